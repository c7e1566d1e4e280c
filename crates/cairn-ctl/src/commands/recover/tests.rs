//! The online plan's handling of members an earlier, interrupted run already
//! acted on: which rejoin URL reaches which member, which members count as
//! already rejoining, and which voters the run waits for.

use cairn_proto::cairnpb::{InspectMember, InspectResponse};

use super::{already_rejoining, expected_voters, reaches};

const OLD: u64 = 0xc1;

fn member(id: u64, name: &str, client_url: &str) -> InspectResponse {
    InspectResponse {
        member_id: id,
        cluster_id: OLD,
        name: name.to_string(),
        members: vec![InspectMember {
            id,
            name: name.to_string(),
            client_urls: vec![client_url.to_string()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn rejoining_through(mut r: InspectResponse, url: &str) -> InspectResponse {
    r.pending_action = cairn_proto::PENDING_REJOIN.to_string();
    r.pending_join_url = url.to_string();
    r
}

#[test]
fn a_join_url_reaches_a_member_by_endpoint_or_by_its_client_urls() {
    let kept = member(1, "a", "https://10.0.0.1:2379");
    assert!(reaches("https://10.0.0.1:2379", "10.0.0.1:2379", &kept));
    assert!(reaches(
        "http://10.0.0.1:2379/",
        "https://10.0.0.1:2379",
        &kept
    ));
    assert!(reaches("https://10.0.0.1:2379", "a.example:2379", &kept));
    assert!(!reaches("https://10.0.0.2:2379", "10.0.0.1:2379", &kept));
}

#[test]
fn members_told_to_rejoin_the_kept_member_count_as_rejoining() {
    let kept = member(1, "a", "http://10.0.0.1:2379");
    let seen = vec![
        ("10.0.0.1:2379".to_string(), kept.clone()),
        (
            "10.0.0.2:2379".to_string(),
            rejoining_through(
                member(2, "b", "http://10.0.0.2:2379"),
                "http://10.0.0.1:2379",
            ),
        ),
        (
            "10.0.0.3:2379".to_string(),
            member(3, "c", "http://10.0.0.3:2379"),
        ),
    ];
    let rejoining = already_rejoining(&seen, OLD, "10.0.0.1:2379", &kept).expect("consistent");
    assert_eq!(
        rejoining.iter().map(|r| r.member_id).collect::<Vec<_>>(),
        [2]
    );
    // A member of another cluster (one that already joined the new one) is
    // not rejoining any more.
    let mut joined = rejoining_through(member(4, "d", "http://10.0.0.4:2379"), "x");
    joined.cluster_id = 0xc2;
    let seen = vec![("10.0.0.4:2379".to_string(), joined)];
    assert!(already_rejoining(&seen, OLD, "10.0.0.1:2379", &kept)
        .expect("consistent")
        .is_empty());
}

#[test]
fn a_member_rejoining_through_another_member_stops_the_plan() {
    let kept = member(1, "a", "http://10.0.0.1:2379");
    let seen = vec![(
        "10.0.0.2:2379".to_string(),
        rejoining_through(
            member(2, "b", "http://10.0.0.2:2379"),
            "http://10.0.0.3:2379",
        ),
    )];
    let error =
        already_rejoining(&seen, OLD, "10.0.0.1:2379", &kept).expect_err("rejoining elsewhere");
    assert!(
        error
            .to_string()
            .contains("is already rejoining through http://10.0.0.3:2379"),
        "{error}"
    );
}

#[test]
fn the_run_waits_for_the_kept_member_the_told_and_the_already_rejoining() {
    let kept = member(1, "a", "u");
    let told = vec![("e".to_string(), member(3, "c", "u3"))];
    let rejoining = vec![member(2, "b", "u2")];
    assert_eq!(expected_voters(&kept, &told, &rejoining), ["a", "c", "b"]);
    assert_eq!(expected_voters(&kept, &[], &[]), ["a"]);
}
