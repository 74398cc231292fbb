//! Human number formatting shared by the text outputs (`40.2 MB`, `10,000`): the leak
//! finder's own, so the CLI and the findings' messages print numbers alike.

pub use heapsight_leaks::{format_bytes as bytes, format_count as count};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(40_200_000), "40.2 MB");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
