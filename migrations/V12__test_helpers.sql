-- Test helpers (CONTRACT §12): `POST /v1/test_helpers/credits/exhaust {enabled}`.
-- Owned by layers-credits (crates/credits). A row exists exactly while the organization's
-- sandbox credit gate is exhausted: every sandbox charge then answers 402 BILLING_EXHAUSTED
-- (`balance: 0`) and writes nothing, as the live gate does with an empty wallet. The live gate
-- never reads it.
CREATE TABLE sandbox_credit_exhaustion (
    organization_id     uuid PRIMARY KEY REFERENCES organizations (id),
    created_at          timestamptz NOT NULL DEFAULT now()
);
