-- A failed target's error is `{code, message}` (CONTRACT §12: the same shape live and sandbox):
-- `error` keeps the message, `error_code` the machine-readable code (`platform_rejected`,
-- `token_expired`, `platform_error`, `media_unusable`). Rows failed before this have no code;
-- they read as `platform_error`.
ALTER TABLE platform_posts ADD COLUMN error_code text;
