//! The edits a document received since the text of its last finished placement, and how
//! byte offsets and ranges move through them: back from the current text to that text (to
//! ask the finished results about a position), and forward again (to answer in the current
//! text). A position inside text an edit inserted or replaced maps to nothing: what is
//! there now was never placed.

use std::collections::VecDeque;

use heapsight_ide::TextRange;

/// One change of a document's text, in bytes of the text before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `start..end` replaced by `inserted` bytes.
    Edit {
        /// Where the replaced bytes start.
        start: usize,
        /// Where they end.
        end: usize,
        /// How many bytes replace them.
        inserted: usize,
    },
    /// The whole text replaced (an open with other text, a close, a full-text change).
    Reset,
}

/// Changes kept per document: past this, the oldest finished text is too far behind to be
/// worth mapping and the log is replaced by one [`Change::Reset`].
const KEPT: usize = 4096;

/// The changes of one document, each numbered by the text it produced (its sequence
/// number; the first text is 0).
#[derive(Debug, Default)]
pub struct EditLog {
    seq: u64,
    changes: VecDeque<(u64, Change)>,
}

impl EditLog {
    /// The sequence number of the current text.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records `change`, made to the current text.
    pub fn push(&mut self, change: Change) {
        self.seq += 1;
        if self.changes.len() >= KEPT {
            self.changes.clear();
            self.changes.push_back((self.seq, Change::Reset));
            return;
        }
        self.changes.push_back((self.seq, change));
    }

    /// The changes from text `seq` to the current text.
    pub fn since(&self, seq: u64) -> Rebase {
        Rebase(
            self.changes
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, c)| *c)
                .collect(),
        )
    }

    /// Forgets the changes that made texts up to `seq` (no finished result is older).
    pub fn forget_through(&mut self, seq: u64) {
        while self.changes.front().is_some_and(|(s, _)| *s <= seq) {
            self.changes.pop_front();
        }
    }
}

/// The changes from an older text to a newer one, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebase(Vec<Change>);

impl Rebase {
    /// Byte `offset` of the newer text in the older one.
    pub fn back(&self, offset: usize) -> Option<usize> {
        self.0
            .iter()
            .rev()
            .try_fold(offset, |offset, change| change.back(offset))
    }

    /// `range` of the newer text in the older one: both ends must map.
    pub fn back_range(&self, range: TextRange) -> Option<TextRange> {
        let start = self.back(range.start)?;
        let end = self.back(range.end)?;
        Some(TextRange::new(start.min(end), end.max(start)))
    }

    /// `range` of the older text in the newer one; `None` when a change touched its inside
    /// (an edit there would overwrite what the user typed).
    pub fn forward_range(&self, range: TextRange) -> Option<TextRange> {
        self.0
            .iter()
            .try_fold(range, |range, change| change.forward_range(range))
    }
}

impl Change {
    /// Byte `offset` of the text after this change in the text before it.
    fn back(self, offset: usize) -> Option<usize> {
        match self {
            Change::Reset => None,
            Change::Edit {
                start,
                end,
                inserted,
            } => {
                if offset < start {
                    Some(offset)
                } else if offset >= start + inserted {
                    Some(offset - start - inserted + end)
                } else {
                    None
                }
            }
        }
    }

    /// `range` of the text before this change in the text after it.
    fn forward_range(self, range: TextRange) -> Option<TextRange> {
        let Change::Edit {
            start,
            end,
            inserted,
        } = self
        else {
            return None;
        };
        let (a, b) = (range.start, range.end);
        let touched = if start == end {
            a < start && start < b
        } else {
            start < b && a < end
        };
        if touched {
            return None;
        }
        let shifted = |offset: usize| offset - end + start + inserted;
        // Text inserted where the range starts goes before it; text inserted where it ends
        // stays after it.
        let new_start = if a < start || (a == start && start < end) {
            a
        } else {
            shifted(a)
        };
        let new_end = if a == b {
            new_start
        } else if b <= start {
            b
        } else {
            shifted(b)
        };
        Some(TextRange::new(new_start, new_end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(start: usize, end: usize, inserted: usize) -> Change {
        Change::Edit {
            start,
            end,
            inserted,
        }
    }

    fn range(start: usize, end: usize) -> TextRange {
        TextRange::new(start, end)
    }

    #[test]
    fn offsets_move_back_around_inserted_and_replaced_text() {
        // "abcdef" -> "abXYZcdef" (3 bytes inserted at 2).
        let insert = Rebase(vec![edit(2, 2, 3)]);
        let back: Vec<Option<usize>> = (0..=9).map(|o| insert.back(o)).collect();
        assert_eq!(
            back,
            [
                Some(0),
                Some(1),
                None,
                None,
                None,
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                Some(6)
            ]
        );
        // "abcdef" -> "aZef" ("bcd" replaced by "Z"), then "aZef" -> "aZ" ("ef" deleted).
        let two = Rebase(vec![edit(1, 4, 1), edit(2, 4, 0)]);
        let back: Vec<Option<usize>> = (0..=2).map(|o| two.back(o)).collect();
        assert_eq!(back, [Some(0), None, Some(6)]);
        assert_eq!(Rebase(vec![Change::Reset]).back(0), None);
    }

    #[test]
    fn ranges_move_forward_unless_an_edit_touched_their_inside() {
        // Lines inserted above: the range moves down by their bytes.
        let above = Rebase(vec![edit(0, 0, 10), edit(0, 0, 10)]);
        assert_eq!(above.forward_range(range(5, 8)), Some(range(25, 28)));
        // Typing where the range starts pushes it; where it ends leaves it.
        let at_start = Rebase(vec![edit(5, 5, 1)]);
        assert_eq!(at_start.forward_range(range(5, 8)), Some(range(6, 9)));
        let at_end = Rebase(vec![edit(8, 8, 1)]);
        assert_eq!(at_end.forward_range(range(5, 8)), Some(range(5, 8)));
        // An empty range (an insertion point) follows the start rule.
        assert_eq!(at_start.forward_range(range(5, 5)), Some(range(6, 6)));
        // Inside: gone. Replacing text that ends where the range starts: kept.
        assert_eq!(Rebase(vec![edit(6, 6, 1)]).forward_range(range(5, 8)), None);
        assert_eq!(Rebase(vec![edit(7, 9, 0)]).forward_range(range(5, 8)), None);
        assert_eq!(
            Rebase(vec![edit(2, 5, 0)]).forward_range(range(5, 8)),
            Some(range(2, 5))
        );
        assert_eq!(Rebase(vec![Change::Reset]).forward_range(range(0, 0)), None);
    }

    #[test]
    fn back_then_forward_is_the_identity_outside_edits() {
        let rebase = Rebase(vec![edit(0, 0, 4), edit(20, 23, 1), edit(2, 2, 7)]);
        for offset in [0, 1, 12, 15, 30] {
            if let Some(old) = rebase.back(offset) {
                let forward = rebase.forward_range(range(old, old + 1));
                assert_eq!(forward, Some(range(offset, offset + 1)), "{offset}");
            }
        }
    }

    #[test]
    fn the_log_numbers_texts_and_forgets_what_no_result_needs() {
        let mut log = EditLog::default();
        log.push(edit(0, 0, 1));
        log.push(edit(0, 0, 2));
        log.push(edit(0, 0, 3));
        assert_eq!(log.seq(), 3);
        assert_eq!(log.since(1), Rebase(vec![edit(0, 0, 2), edit(0, 0, 3)]));
        log.forget_through(2);
        assert_eq!(log.since(0), Rebase(vec![edit(0, 0, 3)]));
        for _ in 0..KEPT {
            log.push(edit(0, 0, 1));
        }
        assert_eq!(log.since(2), Rebase(vec![Change::Reset]));
    }
}
