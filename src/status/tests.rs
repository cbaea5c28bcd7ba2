//! The status pages against small snapshots: pages built once per snapshot and only for
//! known instances, text from CDS escaped, the content security policy.

use super::*;

/// Instance `ins-a` ("orders") of account `acct`, which is up.
pub(super) fn one_instance_snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    let i = crate::cds::Instance {
        uuid: "ins-a".into(),
        name: "orders".into(),
        ..Default::default()
    };
    s.instances
        .insert("ins-a".into(), ("acct".into(), i.into()));
    s.account_up.insert("acct".into(), true);
    s
}

fn one_instance() -> Arc<Snapshot> {
    Arc::new(one_instance_snapshot())
}

/// The regression test of issue 19's finding 2: a 404 builds nothing, and a
/// snapshot's pages are built once however many ask, at the same time or not.
#[tokio::test]
async fn unknown_instances_build_nothing_and_a_snapshot_is_built_once() {
    let pages = Pages::default();
    let snap = one_instance();
    for uuid in ["nope", "", "ins-a/../x", "INS-A"] {
        assert_eq!(
            pages.instance_page(&snap, uuid, "/metrics", None).await,
            None
        );
    }
    assert_eq!(pages.builds(), 0);
    let first = pages.fleet_page(&snap, "/metrics", None).await;
    let again = pages.fleet_page(&snap, "/metrics", None).await;
    assert_eq!(pages.builds(), 1);
    assert_eq!(first.as_ptr(), again.as_ptr(), "the same bytes, not a copy");
    let page = pages
        .instance_page(&snap, "ins-a", "/metrics", None)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&page).contains("<title>orders — CDS Redis backups</title>"));
    assert_eq!(pages.builds(), 1);
    // A new snapshot: built again, once, for requests that arrive together.
    let next = one_instance();
    let all = futures_join(&pages, &next).await;
    assert_eq!(pages.builds(), 2);
    assert!(all.iter().all(|p| p.as_ptr() == all[0].as_ptr()));
    // A client that leaves during a build does not cost a second one.
    let third = one_instance();
    {
        let left = pages.fleet_page(&third, "/metrics", None);
        let _ = tokio::time::timeout(Duration::ZERO, left).await;
    }
    let _ = pages.fleet_page(&third, "/metrics", None).await;
    assert_eq!(pages.builds(), 3);
}

async fn futures_join(pages: &Pages, snap: &Arc<Snapshot>) -> Vec<Bytes> {
    let (a, b, c, d) = tokio::join!(
        pages.fleet_page(snap, "/metrics", None),
        pages.fleet_page(snap, "/metrics", None),
        pages.fleet_page(snap, "/metrics", None),
        pages.fleet_page(snap, "/metrics", None),
    );
    vec![a, b, c, d]
}

#[test]
fn user_text_is_escaped_and_the_policy_allows_only_the_style_sheet() {
    assert_eq!(
        escape("<script>alert(1)</script>&\"'"),
        "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"
    );
    assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    let csp = content_security_policy();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
    assert!(!csp.contains("unsafe"));
}

#[test]
fn a_blind_accounts_line_names_its_last_error_escaped() {
    let mut s = Snapshot::default();
    s.account_up.insert("acct".into(), false);
    s.account_errors.insert(
        "acct".into(),
        "InvalidAccessKeyId.NotFound: <the key> was not found".into(),
    );
    let now = chrono::DateTime::UNIX_EPOCH;
    let page = fleet_page(&crate::report::fleet(&s, now), "/metrics", None);
    assert!(
        page.contains("cannot see account <code>acct</code> (last error: <code>InvalidAccessKeyId.NotFound: &lt;the key&gt; was not found</code>)"),
        "{page}"
    );
    s.account_errors.clear();
    let page = fleet_page(&crate::report::fleet(&s, now), "/metrics", None);
    assert!(
        page.contains("(credentials refused or the API down)"),
        "{page}"
    );
}
