//! An unstable sort that orders equal elements exactly as Go 1.16's `sort.Sort`.
//!
//! etcd 3.5 sorts Range results with `sort.Sort`, which is not stable: keys with
//! the same version (or create/mod revision, or value) come out in an order that
//! depends on the algorithm (quicksort with median-of-three pivots, a heapsort
//! fallback, and a gap-6 shell pass plus insertion sort for short runs). Clients
//! see that order, so Cairn reproduces the algorithm's sequence of comparisons
//! and swaps instead of using a stable sort.

/// Sorts `v` so that `less` holds between neighbours, ordering ties as Go does.
pub(crate) fn sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    let mut s = Sorter { v, less };
    s.quick_sort(0, n, max_depth(n));
}

/// 2 * ceil(lg(n + 1)): the depth at which quicksort falls back to heapsort.
fn max_depth(n: usize) -> usize {
    let mut depth = 0;
    let mut i = n;
    while i > 0 {
        depth += 1;
        i >>= 1;
    }
    depth * 2
}

struct Sorter<'a, T, F> {
    v: &'a mut [T],
    less: F,
}

impl<T, F: Fn(&T, &T) -> bool> Sorter<'_, T, F> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(&self.v[i], &self.v[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.v.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    /// Restores the max-heap property of `[lo, hi)` (offsets from `first`) below `root`.
    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        let mut i = (hi as isize - 1) / 2;
        while i >= 0 {
            self.sift_down(i as usize, hi, first);
            i -= 1;
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    /// Leaves the median of v[m0], v[m1], v[m2] in v[m1].
    fn median_of_three(&mut self, m1: usize, m0: usize, m2: usize) {
        if self.less(m1, m0) {
            self.swap(m1, m0);
        }
        if self.less(m2, m1) {
            self.swap(m2, m1);
            if self.less(m1, m0) {
                self.swap(m1, m0);
            }
        }
    }

    /// Partitions `[lo, hi)` around a pivot; returns the bounds of the run of
    /// elements equal to it.
    fn do_pivot(&mut self, lo: usize, hi: usize) -> (usize, usize) {
        let m = (lo + hi) / 2;
        if hi - lo > 40 {
            let s = (hi - lo) / 8;
            self.median_of_three(lo, lo + s, lo + 2 * s);
            self.median_of_three(m, m - s, m + s);
            self.median_of_three(hi - 1, hi - 1 - s, hi - 1 - 2 * s);
        }
        self.median_of_three(lo, m, hi - 1);

        let pivot = lo;
        let (mut a, mut c) = (lo + 1, hi - 1);
        while a < c && self.less(a, pivot) {
            a += 1;
        }
        let mut b = a;
        loop {
            while b < c && !self.less(pivot, b) {
                b += 1;
            }
            while b < c && self.less(pivot, c - 1) {
                c -= 1;
            }
            if b >= c {
                break;
            }
            self.swap(b, c - 1);
            b += 1;
            c -= 1;
        }

        let mut protect = hi - c < 5;
        if !protect && hi - c < (hi - lo) / 4 {
            let mut dups = 0;
            if !self.less(pivot, hi - 1) {
                self.swap(c, hi - 1);
                c += 1;
                dups += 1;
            }
            if !self.less(b - 1, pivot) {
                b -= 1;
                dups += 1;
            }
            if !self.less(m, pivot) {
                self.swap(m, b - 1);
                b -= 1;
                dups += 1;
            }
            protect = dups > 1;
        }
        if protect {
            loop {
                while a < b && !self.less(b - 1, pivot) {
                    b -= 1;
                }
                while a < b && self.less(a, pivot) {
                    a += 1;
                }
                if a >= b {
                    break;
                }
                self.swap(a, b - 1);
                a += 1;
                b -= 1;
            }
        }
        self.swap(pivot, b - 1);
        (b - 1, c)
    }

    fn quick_sort(&mut self, mut a: usize, mut b: usize, mut depth: usize) {
        while b - a > 12 {
            if depth == 0 {
                self.heap_sort(a, b);
                return;
            }
            depth -= 1;
            let (mlo, mhi) = self.do_pivot(a, b);
            if mlo - a < b - mhi {
                self.quick_sort(a, mlo, depth);
                a = mhi;
            } else {
                self.quick_sort(mhi, b, depth);
                b = mlo;
            }
        }
        if b - a > 1 {
            for i in a + 6..b {
                if self.less(i, i - 6) {
                    self.swap(i, i - 6);
                }
            }
            self.insertion_sort(a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (sort key, original position)
    fn tagged(keys: &[u32]) -> Vec<(u32, usize)> {
        keys.iter()
            .copied()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect()
    }

    #[test]
    fn sorts_like_any_sort() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for n in [0usize, 1, 2, 5, 12, 13, 40, 41, 100, 1000] {
            let mut v: Vec<u64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % 50
                })
                .collect();
            let mut want = v.clone();
            want.sort();
            sort_by(&mut v, |a, b| a < b);
            assert_eq!(v, want, "n = {n}");
        }
    }

    #[test]
    fn short_runs_reorder_ties_like_go() {
        // Go: the gap-6 pass swaps (B,0) with the smaller A at index 6, putting
        // (B,1) ahead of (B,0); a stable sort would keep (B,0) first.
        let mut v = tagged(&[2, 2, 3, 3, 3, 3, 1]);
        sort_by(&mut v, |a, b| a.0 < b.0);
        assert_eq!(
            v,
            vec![(1, 6), (2, 1), (2, 0), (3, 2), (3, 3), (3, 4), (3, 5)]
        );
    }

    #[test]
    fn orders_ties_exactly_like_etcd_3_5_1() {
        // Observed with a real etcd 3.5.1 (Go 1.16.3): keys s00..s19 where s<i> has
        // version (i * 7 % 5) + 1, read with `get --prefix s --sort-by=VERSION`.
        let keys: Vec<u32> = (0..20u32).map(|i| i * 7 % 5 + 1).collect();
        let mut asc = tagged(&keys);
        sort_by(&mut asc, |a, b| a.0 < b.0);
        let order: Vec<usize> = asc.iter().map(|&(_, i)| i).collect();
        assert_eq!(
            order,
            vec![5, 15, 10, 0, 13, 3, 18, 8, 6, 1, 16, 11, 19, 4, 14, 9, 2, 17, 7, 12]
        );
        let mut desc = tagged(&keys);
        sort_by(&mut desc, |a, b| b.0 < a.0);
        let order: Vec<usize> = desc.iter().map(|&(_, i)| i).collect();
        assert_eq!(
            order,
            vec![17, 7, 2, 12, 14, 4, 9, 19, 16, 6, 1, 11, 18, 13, 3, 8, 10, 15, 5, 0]
        );
        // Seven keys t00..t06 with versions 2,2,3,3,3,3,1, descending.
        let mut v = tagged(&[2, 2, 3, 3, 3, 3, 1]);
        sort_by(&mut v, |a, b| b.0 < a.0);
        let order: Vec<usize> = v.iter().map(|&(_, i)| i).collect();
        assert_eq!(order, vec![2, 3, 4, 5, 0, 1, 6]);
    }
}
