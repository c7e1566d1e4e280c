//! The timeline the search walks: every operation's call and return entries
//! in time order, as a doubly linked list from which an operation (its call
//! and its return together) can be lifted out and later put back in place.
//!
//! Order: by time; at equal times calls come before returns (Porcupine's
//! convention). So two operations where one returns at the very instant the
//! other is called count as concurrent, which is the permissive reading: with
//! clocks of finite resolution, equal timestamps do not prove an order.

/// Index of a node in [`Timeline::nodes`]; node 0 is the head sentinel.
type NodeId = usize;

const HEAD: NodeId = 0;
const NIL: NodeId = usize::MAX;

/// What a node of the timeline stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The call of operation `op`; `ret` is the node of its return.
    Call { op: usize, ret: NodeId },
    /// The return of operation `op`.
    Return { op: usize },
}

#[derive(Debug, Clone)]
struct Node {
    entry: Entry,
    prev: NodeId,
    next: NodeId,
}

/// The linked list of call and return entries of one partition.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    nodes: Vec<Node>,
}

impl Timeline {
    /// Builds the timeline of operations numbered `0..times.len()`, given their
    /// `(call, ret)` times.
    pub(crate) fn new(times: &[(u64, u64)]) -> Self {
        // (time, 0 for call / 1 for return, op): sorting this tuple gives time
        // order, calls before returns at equal times, then a fixed order.
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(times.len() * 2);
        for (op, &(call, ret)) in times.iter().enumerate() {
            order.push((call, 0, op));
            order.push((ret, 1, op));
        }
        order.sort_unstable();

        // Node ids: head is 0, the k-th entry in time order is k + 1.
        let mut ret_node = vec![NIL; times.len()];
        for (k, &(_, kind, op)) in order.iter().enumerate() {
            if kind == 1 {
                ret_node[op] = k + 1;
            }
        }
        let count = order.len() + 1;
        let mut nodes = Vec::with_capacity(count);
        nodes.push(Node {
            entry: Entry::Return { op: usize::MAX },
            prev: NIL,
            next: if count > 1 { 1 } else { NIL },
        });
        for (k, &(_, kind, op)) in order.iter().enumerate() {
            let id = k + 1;
            let entry = if kind == 0 {
                Entry::Call {
                    op,
                    ret: ret_node[op],
                }
            } else {
                Entry::Return { op }
            };
            nodes.push(Node {
                entry,
                prev: id - 1,
                next: if id + 1 < count { id + 1 } else { NIL },
            });
        }
        Timeline { nodes }
    }

    /// The first entry still in the list, or `None` once every operation has
    /// been lifted out.
    pub(crate) fn first(&self) -> Option<NodeId> {
        self.link(self.nodes[HEAD].next)
    }

    /// The entry after `node` in the list.
    pub(crate) fn next(&self, node: NodeId) -> Option<NodeId> {
        self.link(self.nodes[node].next)
    }

    pub(crate) fn entry(&self, node: NodeId) -> Entry {
        self.nodes[node].entry
    }

    /// Removes a call entry and its return entry from the list. Their own
    /// links are kept so that [`Timeline::unlift`] can put them back.
    pub(crate) fn lift(&mut self, call: NodeId) {
        let Entry::Call { ret, .. } = self.nodes[call].entry else {
            unreachable!("only call entries are lifted");
        };
        self.unlink(call);
        self.unlink(ret);
    }

    /// Undoes the most recent [`Timeline::lift`] still in effect, which must
    /// have been of `call` (lifts and unlifts nest like a stack).
    pub(crate) fn unlift(&mut self, call: NodeId) {
        let Entry::Call { ret, .. } = self.nodes[call].entry else {
            unreachable!("only call entries are unlifted");
        };
        self.relink(ret);
        self.relink(call);
    }

    fn link(&self, id: NodeId) -> Option<NodeId> {
        (id != NIL).then_some(id)
    }

    fn unlink(&mut self, id: NodeId) {
        let Node { prev, next, .. } = self.nodes[id];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, id: NodeId) {
        let Node { prev, next, .. } = self.nodes[id];
        self.nodes[prev].next = id;
        if next != NIL {
            self.nodes[next].prev = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Timeline};

    fn walk(t: &Timeline) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut cur = t.first();
        while let Some(n) = cur {
            out.push(t.entry(n));
            cur = t.next(n);
        }
        out
    }

    fn ops(t: &Timeline) -> Vec<String> {
        walk(t)
            .into_iter()
            .map(|e| match e {
                Entry::Call { op, .. } => format!("c{op}"),
                Entry::Return { op } => format!("r{op}"),
            })
            .collect()
    }

    #[test]
    fn orders_by_time_with_calls_first_at_ties() {
        // op0: [0, 10], op1: [10, 20], op2: [5, MAX]
        let t = Timeline::new(&[(0, 10), (10, 20), (5, u64::MAX)]);
        assert_eq!(ops(&t), ["c0", "c2", "c1", "r0", "r1", "r2"]);
    }

    #[test]
    fn lift_and_unlift_nest() {
        let mut t = Timeline::new(&[(0, 10), (1, 5), (2, 20)]);
        assert_eq!(ops(&t), ["c0", "c1", "c2", "r1", "r0", "r2"]);
        let call = |t: &Timeline, want: usize| {
            let mut cur = t.first();
            while let Some(n) = cur {
                if matches!(t.entry(n), Entry::Call { op, .. } if op == want) {
                    return n;
                }
                cur = t.next(n);
            }
            panic!("op {want} not in list");
        };
        let c1 = call(&t, 1);
        t.lift(c1);
        assert_eq!(ops(&t), ["c0", "c2", "r0", "r2"]);
        let c2 = call(&t, 2);
        t.lift(c2);
        assert_eq!(ops(&t), ["c0", "r0"]);
        let c0 = call(&t, 0);
        t.lift(c0);
        assert!(t.first().is_none());
        t.unlift(c0);
        t.unlift(c2);
        assert_eq!(ops(&t), ["c0", "c2", "r0", "r2"]);
        t.unlift(c1);
        assert_eq!(ops(&t), ["c0", "c1", "c2", "r1", "r0", "r2"]);
    }
}
