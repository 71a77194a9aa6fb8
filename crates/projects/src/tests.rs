//! Store tests against a fresh database.

use super::*;
use layers_core::Limit;
use layers_db::testing::fresh_database;
use layers_orgs::Plan;

fn new_project(name: &str, external: Option<&str>) -> NewProject {
    NewProject {
        name: Name::parse(name).unwrap(),
        customer_external_id: external.map(|e| CustomerExternalId::parse(e).unwrap()),
        timezone: Timezone::parse("Europe/Paris").unwrap(),
        test_clock_id: None,
        primary_language: LanguageTag::parse("en").unwrap(),
    }
}

async fn org(c: &layers_db::Client) -> OrgId {
    layers_orgs::create(c, "Acme", Plan::Partner, None)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn create_marks_the_environment_and_dedupes_by_external_id() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let sandbox = Projects::new(EnvKind::Sandbox);
    let live = Projects::new(EnvKind::Live);

    let (a, created) = sandbox
        .create(&c, org, new_project("A", Some("cust-1")))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    assert!(a.is_sandbox);
    let (again, created) = sandbox
        .create(&c, org, new_project("B", Some("cust-1")))
        .await
        .unwrap();
    assert_eq!((again.id, created), (a.id, Created::Existing));
    assert_eq!(again.name, "A");

    // the same external id in the live environment is another project
    let (l, created) = live
        .create(&c, org, new_project("L", Some("cust-1")))
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    assert!(!l.is_sandbox);
    assert_ne!(l.id, a.id);

    // projects without an external id never collide
    let (x, _) = live.create(&c, org, new_project("X", None)).await.unwrap();
    let (y, _) = live.create(&c, org, new_project("X", None)).await.unwrap();
    assert_ne!(x.id, y.id);
}

#[tokio::test]
async fn another_organization_sees_nothing() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let (mine, theirs) = (org(&c).await, org(&c).await);
    let p = Projects::new(EnvKind::Live);
    let (project, _) = p.create(&c, mine, new_project("A", None)).await.unwrap();
    assert!(matches!(
        p.get(&c, theirs, project.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        p.update(&c, theirs, project.id, ProjectPatch::default())
            .await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        p.archive(&c, theirs, project.id).await,
        Err(Error::NotFound)
    ));
    let inf = NewInfluencer {
        name: Name::parse("Ava").unwrap(),
        description: None,
    };
    assert!(matches!(
        p.create_influencer(&c, theirs, project.id, inf).await,
        Err(Error::NotFound)
    ));
    assert!(p
        .list(&c, theirs, Limit::default(), None)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn list_pages_newest_first() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let p = Projects::new(EnvKind::Live);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            p.create(&c, org, new_project(&format!("P{i}"), None))
                .await
                .unwrap()
                .0
                .id,
        );
    }
    ids.reverse();
    let limit = Limit::new(2).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = p.list(&c, org, limit, cursor).await.unwrap();
        seen.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn archived_projects_refuse_changes_and_archive_is_idempotent() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let p = Projects::new(EnvKind::Live);
    let (project, _) = p.create(&c, org, new_project("A", None)).await.unwrap();
    let patch = ProjectPatch {
        name: Some(Name::parse("Renamed").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        p.update(&c, org, project.id, patch.clone())
            .await
            .unwrap()
            .name,
        "Renamed"
    );

    let first = p.archive(&c, org, project.id).await.unwrap();
    let second = p.archive(&c, org, project.id).await.unwrap();
    assert!(first.archived_at.is_some());
    assert_eq!(first, second);
    assert!(matches!(
        p.update(&c, org, project.id, patch).await,
        Err(Error::Archived)
    ));
    let inf = NewInfluencer {
        name: Name::parse("Ava").unwrap(),
        description: None,
    };
    assert!(matches!(
        p.create_influencer(&c, org, project.id, inf).await,
        Err(Error::Archived)
    ));
}

#[tokio::test]
async fn update_refuses_a_taken_external_id() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let p = Projects::new(EnvKind::Live);
    p.create(&c, org, new_project("A", Some("one")))
        .await
        .unwrap();
    let (b, _) = p
        .create(&c, org, new_project("B", Some("two")))
        .await
        .unwrap();
    let patch = ProjectPatch {
        customer_external_id: Some(CustomerExternalId::parse("one").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        p.update(&c, org, b.id, patch).await,
        Err(Error::CustomerExternalIdTaken)
    ));
}

#[tokio::test]
async fn influencers_list_per_project() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let p = Projects::new(EnvKind::Sandbox);
    let (project, _) = p.create(&c, org, new_project("A", None)).await.unwrap();
    let empty = p
        .list_influencers(&c, org, project.id, Limit::default(), None)
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next, None);
    for name in ["Ava", "Ben", "Cy"] {
        let inf = NewInfluencer {
            name: Name::parse(name).unwrap(),
            description: Some(Description::parse("bio").unwrap()),
        };
        let made = p.create_influencer(&c, org, project.id, inf).await.unwrap();
        assert!(made.is_sandbox);
    }
    let page = p
        .list_influencers(&c, org, project.id, Limit::new(2).unwrap(), None)
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Cy", "Ben"]);
    let rest = p
        .list_influencers(&c, org, project.id, Limit::new(2).unwrap(), page.next)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
    assert!(matches!(
        p.list_influencers(&c, org, ProjectId::new(), Limit::default(), None)
            .await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn each_environment_sees_and_changes_only_its_own_projects() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = org(&c).await;
    let (live, sandbox) = (
        Projects::new(EnvKind::Live),
        Projects::new(EnvKind::Sandbox),
    );
    let (project, _) = live.create(&c, org, new_project("L", None)).await.unwrap();
    assert!(matches!(
        sandbox.get(&c, org, project.id).await,
        Err(Error::InOtherEnvironment(EnvKind::Live))
    ));
    assert!(sandbox
        .list(&c, org, Limit::default(), None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(matches!(
        sandbox
            .list_influencers(&c, org, project.id, Limit::default(), None)
            .await,
        Err(Error::InOtherEnvironment(EnvKind::Live))
    ));
    assert_eq!(
        live.list(&c, org, Limit::default(), None)
            .await
            .unwrap()
            .items,
        vec![project.clone()]
    );
    let patch = ProjectPatch {
        name: Some(Name::parse("X").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        sandbox.update(&c, org, project.id, patch).await,
        Err(Error::EnvironmentMismatch(EnvKind::Live))
    ));
    assert!(matches!(
        sandbox.archive(&c, org, project.id).await,
        Err(Error::EnvironmentMismatch(EnvKind::Live))
    ));
    let inf = NewInfluencer {
        name: Name::parse("Ava").unwrap(),
        description: None,
    };
    assert!(matches!(
        sandbox.create_influencer(&c, org, project.id, inf).await,
        Err(Error::EnvironmentMismatch(EnvKind::Live))
    ));
    assert_eq!(live.get(&c, org, project.id).await.unwrap(), project);
}
