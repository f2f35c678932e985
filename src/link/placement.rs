//! Which shard a link runs on: links spread over the shards by a stable
//! hash of their realm and id, so that a router with many links uses every
//! core, and a link restarted (or the router restarted) lands where it was.
//!
//! Nothing in a link needs to share its shard with another link or with
//! the realm: the topology rule reads the links around through the meta API
//! (`super::topology`), and a link's local leg receives each publication of
//! any shard once, over the mesh, like any session.

/// The shard link `id` of realm `realm` runs on, of `shards` (FNV-1a of
/// `realm`, a NUL, and `id`).
pub fn shard_for(realm: &str, id: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in realm.bytes().chain([0]).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // usize is at least 32 bits: the remainder fits.
    (h % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::shard_for;

    #[test]
    fn stable_within_range_and_spread() {
        assert_eq!(shard_for("realm1", "a", 1), 0);
        assert_eq!(shard_for("realm1", "a", 0), 0);
        let mut used = [0usize; 4];
        for i in 0..64 {
            let id = format!("rlink{i:03}");
            let s = shard_for("realm1", &id, 4);
            assert!(s < 4);
            assert_eq!(s, shard_for("realm1", &id, 4));
            used[s] += 1;
        }
        assert!(used.iter().all(|n| *n > 0), "{used:?}");
    }
}
