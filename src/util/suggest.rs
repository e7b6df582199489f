//! "Did you mean ...?": the likely intended name of a misspelt one.

/// Levenshtein distance over characters (`strsim`, which clap already builds for its own
/// suggestions).
use strsim::levenshtein as distance;

/// The candidate nearest to `name` when it is a likely misspelling of it.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(name, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 4).max(1))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested_and_far_ones_not() {
        let known = ["nxinfra_backups", "nxinfra_base_dir"];
        assert_eq!(closest("nxinfra_backup", &known), Some("nxinfra_backups"));
        assert_eq!(closest("nxinfra_bse_dir", &known), Some("nxinfra_base_dir"));
        assert_eq!(closest("something_else", &known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
