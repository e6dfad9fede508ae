//! Named experiments that make a point: a fragment, the searches to run on it, and what to look
//! at in the result. The page offers them as buttons (search card); `arq run --experiment ID`
//! runs the same fragment and searches.

use crate::config::ExperimentConfig;
use crate::error::{Error, Result};
use crate::pipeline::search::Method;
use serde::Serialize;

/// One named experiment.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Showcase {
    /// Short id, e.g. `why-certify` (`arq run --experiment ID`).
    pub id: &'static str,
    /// The button's title.
    pub title: &'static str,
    /// The experiment's settings, a canonical URL fragment without '#'.
    pub fragment: &'static str,
    /// The searches to run on it, in order; the final table follows.
    pub methods: Vec<Method>,
    /// What to look at in the result, a few sentences of plain text.
    pub text: &'static str,
}

/// Every named experiment, in the order the page offers them.
pub fn showcases() -> Vec<Showcase> {
    vec![Showcase {
        id: "why-certify",
        title: "Why certify the reward?",
        fragment: "v=2&budget=0.0078125&episodes=15&warmup=5&fft=150",
        methods: vec![Method::Arq, Method::Haq, Method::Random],
        text: "At 1/128 of FP32's bit operations (half of uniform W4A4) bits are scarce: how they \
               are spread decides what robustness survives. Three searches of 15 policies each \
               run under the same budget and evaluation; only their rewards differ. HAQ's reward, \
               clean accuracy on 50 digits, barely moves between policies (most score 0.96-0.98), \
               so its agent learns little and happily takes 2-bit activations; ARQ's reward, the \
               certified radius of the smoothed classifier measured with IRS, sees the lost \
               robustness. Look at the final table: ARQ's ACR against HAQ's and random search's, \
               each with its paired 95 % interval; then compare ARQ with the best uniform policy \
               within the budget, the honest baseline (on lenet's 5 layers a uniform policy is \
               hard to beat; see docs/results for the multi-seed numbers).",
    }]
}

/// The named experiment `id`, or an error listing the ids.
pub fn showcase(id: &str) -> Result<Showcase> {
    showcases().into_iter().find(|s| s.id == id).ok_or_else(|| {
        Error::invalid(
            "experiment",
            id,
            "no such named experiment",
            showcases()
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

impl Showcase {
    /// The experiment's config (its fragment parsed strictly).
    pub fn config(&self) -> Result<ExperimentConfig> {
        ExperimentConfig::from_fragment(self.fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_canonical_and_ids_unique() {
        let all = showcases();
        for s in &all {
            let c = s.config().unwrap();
            assert_eq!(c.to_fragment(), s.fragment, "{}", s.id);
            assert!(!s.methods.is_empty());
            assert_eq!(showcase(s.id).unwrap().fragment, s.fragment);
        }
        let mut ids: Vec<_> = all.iter().map(|s| s.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        let e = showcase("nope").unwrap_err().to_string();
        assert!(
            e.contains("experiment=nope") && e.contains("why-certify"),
            "{e}"
        );
    }
}
