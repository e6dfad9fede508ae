//! The presentation settings (schema group `view`): which view of the page opens, which parts
//! are hidden or locked, and the embed mode of a teacher's link. No computation reads them:
//! they ride in the same fragment so that one link is one lesson, and the CLI accepts and
//! validates them like every other key, computing exactly the same numbers with or without
//! them ([`ExperimentConfig::experiment_fragment`] leaves them out; tests/presentation.rs).
//!
//! Adding a view is one line in [`views!`] below (its URL word and doc) plus the
//! `data-view` attribute on its element in www/index.html (docs/navigation.md).

use super::{ExperimentConfig, SCHEMA};
use crate::choice::choice_enum;
use serde::{Serialize, Serializer};
use std::fmt;

/// The schema group of the presentation keys.
pub const VIEW_GROUP: &str = "view";

/// The parts of the page besides the views that `hide` and `lock` can name.
const OTHER_PARTS: [&str; 4] = ["settings", "advanced", "teacher", "workers"];

/// Declares [`ViewName`] from its words and [`PARTS`] as the views plus [`OTHER_PARTS`].
macro_rules! views {
    ($($(#[$m:meta])* $v:ident = $w:literal),+ $(,)?) => {
        choice_enum! {
            /// The `view` setting: the view of the page that opens (the page's navigation).
            pub enum ViewName {
                $($(#[$m])* $v = $w),+
            }
        }

        /// The words `hide` and `lock` accept: every view, then the other parts.
        pub const PARTS: &[&str] = &[
            $($w,)+
            OTHER_PARTS[0], OTHER_PARTS[1], OTHER_PARTS[2], OTHER_PARTS[3],
        ];
    };
}

views! {
    /// The guided lessons.
    Lessons = "lessons",
    /// The results a link or bundle carries, replay and verify, export.
    Share = "share",
    /// The model, its data, training and clean evaluation (the default).
    Model = "model",
    /// One digit under noise draws, with votes and the radius.
    Noise = "noise",
    /// A digit the user draws or uploads, certified under FP32 and the quantized policy.
    Digit = "digit",
    /// CERTIFY on test points: curves, per-digit radii, the table.
    Certify = "certify",
    /// The mixed-precision policy editor, read-out and layer sensitivity.
    Bits = "bits",
    /// The searches, the Pareto scatter and the final comparison table.
    Search = "search",
    /// Finished runs kept in the browser, and two of them side by side.
    History = "history",
}

/// A set of words of a [`super::Kind::Words`] setting (`hide`, `lock`): one bit per word of
/// [`PARTS`]. Printed as its words in [`PARTS`] order joined by commas (empty: none), so
/// equal sets have equal canonical text whatever order or repetition was typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartSet(u64);

impl PartSet {
    /// The set of the words at these positions of [`PARTS`].
    pub(crate) fn from_positions(positions: impl IntoIterator<Item = usize>) -> PartSet {
        PartSet(positions.into_iter().fold(0, |m, i| m | (1 << i)))
    }

    /// Whether `word` is in the set.
    pub fn contains(&self, word: &str) -> bool {
        PARTS
            .iter()
            .position(|p| *p == word)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The words of the set, in [`PARTS`] order.
    pub fn words(&self) -> Vec<&'static str> {
        (0..PARTS.len())
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| PARTS[i])
            .collect()
    }
}

impl fmt::Display for PartSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words().join(","))
    }
}

impl Serialize for PartSet {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl ExperimentConfig {
    /// The canonical fragment without the presentation keys (group [`VIEW_GROUP`]): what
    /// identifies the computation. Workers that share a job and checkpoints compare or
    /// record this, so a teacher's `view`/`hide`/`lock`/`embed` never changes a result.
    pub fn experiment_fragment(&self) -> String {
        self.experiment_fragment_of(self.format)
    }

    /// [`Self::experiment_fragment`] spelled in format `version`.
    pub(crate) fn experiment_fragment_of(&self, version: u32) -> String {
        let mut c = self.clone();
        c.clear_presentation();
        c.to_fragment_of(version)
    }

    /// Resets every presentation key (every schema row of group [`VIEW_GROUP`]) to its
    /// default.
    pub fn clear_presentation(&mut self) {
        let d = ExperimentConfig::default();
        for f in SCHEMA.iter().filter(|f| f.group == VIEW_GROUP) {
            let v = f.kind.parse(f.key, &(f.get)(&d)).expect("a default parses");
            (f.set)(self, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{field, Kind};
    use super::*;
    use crate::choice::tests::check_round_trip;

    #[test]
    fn parts_are_the_views_then_the_rest() {
        check_round_trip::<ViewName>();
        assert_eq!(
            PARTS,
            [
                "lessons", "share", "model", "noise", "digit", "certify", "bits", "search",
                "history", "settings", "advanced", "teacher", "workers"
            ]
        );
        assert!(PARTS.len() <= 64, "PartSet holds one bit per part");
        for key in ["hide", "lock"] {
            match field(key).unwrap().kind {
                Kind::Words { choices } => assert_eq!(choices, PARTS),
                k => panic!("{key} is {k:?}"),
            }
        }
        // the presentation keys are the last schema group, so the canonical fragment puts
        // them after every computational key
        let first = SCHEMA.iter().position(|f| f.group == VIEW_GROUP).unwrap();
        assert!(SCHEMA[first..].iter().all(|f| f.group == VIEW_GROUP));
        let keys: Vec<&str> = SCHEMA[first..].iter().map(|f| f.key).collect();
        assert_eq!(keys, ["view", "hide", "lock", "embed", "lesson", "step"]);
    }

    #[test]
    fn word_sets_parse_to_a_canonical_set() {
        let c = ExperimentConfig::from_fragment(
            "#v=2&hide=search, settings,search&lock=bits&view=search&embed=1",
        )
        .unwrap();
        assert!(c.hide.contains("search") && c.hide.contains("settings"));
        assert!(!c.hide.contains("bits") && !c.hide.contains("nonsense"));
        assert_eq!(c.hide.words(), ["search", "settings"]);
        assert_eq!(c.view, ViewName::Search);
        assert_eq!(
            c.to_fragment(),
            "v=2&view=search&hide=search,settings&lock=bits&embed=1"
        );
        assert_eq!(
            ExperimentConfig::from_fragment(&c.to_fragment()).unwrap(),
            c
        );
        // an empty list is the empty set, the default
        let c = ExperimentConfig::from_fragment("v=2&hide=&lock= ").unwrap();
        assert_eq!(c, ExperimentConfig::default());
        let v = serde_json::to_value(
            ExperimentConfig::from_fragment("v=2&lock=workers,model").unwrap(),
        )
        .unwrap();
        assert_eq!(
            (&v["lock"], &v["hide"]),
            (&"model,workers".into(), &"".into())
        );
        assert_eq!(v["view"], "model");
    }

    #[test]
    fn errors_name_the_unknown_word_and_the_allowed_ones() {
        let e = ExperimentConfig::from_fragment("v=2&hide=settings,serch")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hide=settings,serch"), "{e}");
        assert!(e.contains("'serch' is not a known word"), "{e}");
        assert!(
            e.contains("lessons, share, model, noise, digit, certify, bits, search, history, settings, advanced, teacher, workers"),
            "{e}"
        );
        let e = ExperimentConfig::from_fragment("v=2&lock=bits,,search")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lock=bits,,search") && e.contains("empty item"),
            "{e}"
        );
        let e = ExperimentConfig::from_fragment("v=2&view=lessonz")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("view=lessonz") && e.contains("model, noise"),
            "{e}"
        );
        let e = ExperimentConfig::from_fragment("v=2&embed=2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("embed=2") && e.contains("0..=1"), "{e}");
        // the lenient parse (the page) drops only the bad key
        let (c, notes) = ExperimentConfig::from_fragment_lenient("v=2&hide=bogus&lock=bits");
        assert_eq!((c.hide, c.lock.words()), (PartSet::default(), vec!["bits"]));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn the_experiment_fragment_leaves_the_presentation_out() {
        let base = "v=2&model=cnn3&sigma=0.5&episodes=3";
        let with = format!("{base}&view=certify&hide=settings,teacher&lock=bits&embed=1");
        let a = ExperimentConfig::from_fragment(base).unwrap();
        let b = ExperimentConfig::from_fragment(&with).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.experiment_fragment(), base);
        assert_eq!(b.experiment_fragment(), base);
        assert_eq!(b.to_fragment(), with);
        let mut c = b.clone();
        c.clear_presentation();
        assert_eq!(c, a);
    }
}
