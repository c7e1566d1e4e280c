//! Txn compares, evaluated as etcd does: every key in the compare's range must
//! satisfy it; a range with no keys compares against an all-zero key-value, except
//! that a VALUE compare on missing keys always fails.

use std::cmp::Ordering;

use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::Compare;
use cairn_proto::mvccpb::KeyValue;

use crate::error::Error;
use crate::index::KeySpan;
use crate::view::{KvSource, View};

/// Whether all `cmps` hold in `view`.
pub(crate) fn all_hold<T: KvSource + ?Sized>(
    view: &View<'_, T>,
    cmps: &[Compare],
) -> Result<bool, Error> {
    for c in cmps {
        if !holds(view, c)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether one compare holds in `view`.
pub(crate) fn holds<T: KvSource + ?Sized>(view: &View<'_, T>, c: &Compare) -> Result<bool, Error> {
    let kvs = view.all(KeySpan::new(&c.key, &c.range_end))?;
    if kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(kvs.iter().all(|kv| compare_kv(c, kv)))
}

/// Compares one key-value against the compare's operand.
pub(crate) fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let int = |v: Option<i64>| v.unwrap_or(0);
    let ord = match CompareTarget::try_from(c.target) {
        Ok(CompareTarget::Value) => {
            let want: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        Ok(CompareTarget::Create) => kv.create_revision.cmp(&int(match c.target_union {
            Some(TargetUnion::CreateRevision(v)) => Some(v),
            _ => None,
        })),
        Ok(CompareTarget::Mod) => kv.mod_revision.cmp(&int(match c.target_union {
            Some(TargetUnion::ModRevision(v)) => Some(v),
            _ => None,
        })),
        Ok(CompareTarget::Version) => kv.version.cmp(&int(match c.target_union {
            Some(TargetUnion::Version(v)) => Some(v),
            _ => None,
        })),
        Ok(CompareTarget::Lease) => kv.lease.cmp(&int(match c.target_union {
            Some(TargetUnion::Lease(v)) => Some(v),
            _ => None,
        })),
        // An unknown target compares equal, as in etcd.
        Err(_) => Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord == Ordering::Equal,
        Ok(CompareResult::NotEqual) => ord != Ordering::Equal,
        Ok(CompareResult::Greater) => ord == Ordering::Greater,
        Ok(CompareResult::Less) => ord == Ordering::Less,
        // An unknown result holds, as in etcd.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(target: CompareTarget, result: CompareResult, operand: TargetUnion) -> Compare {
        Compare {
            target: target as i32,
            result: result as i32,
            key: b"k".to_vec(),
            range_end: Vec::new(),
            target_union: Some(operand),
        }
    }

    #[test]
    fn each_target_and_result() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version: 3,
            value: b"m".to_vec(),
            lease: 9,
        };
        use CompareResult::*;
        use CompareTarget as T;
        let cases = [
            (cmp(T::Version, Equal, TargetUnion::Version(3)), true),
            (cmp(T::Version, Greater, TargetUnion::Version(3)), false),
            (cmp(T::Create, Less, TargetUnion::CreateRevision(3)), true),
            (cmp(T::Mod, Greater, TargetUnion::ModRevision(4)), true),
            (cmp(T::Mod, NotEqual, TargetUnion::ModRevision(5)), false),
            (
                cmp(T::Value, Greater, TargetUnion::Value(b"a".to_vec())),
                true,
            ),
            (
                cmp(T::Value, Less, TargetUnion::Value(b"ma".to_vec())),
                true,
            ),
            (cmp(T::Lease, Equal, TargetUnion::Lease(9)), true),
            // Operand of the wrong kind counts as zero / empty.
            (cmp(T::Mod, Greater, TargetUnion::Version(100)), true),
        ];
        for (c, want) in cases {
            assert_eq!(compare_kv(&c, &kv), want, "{c:?}");
        }
    }
}
