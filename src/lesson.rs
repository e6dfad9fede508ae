//! Guided lessons: a prepared state (a fragment) and a few steps, each with a short text, an
//! action the student does (or has the page do), the view it points to and a formula whose
//! numbers the page fills in from the engine for the current run. The page shows them in its
//! Lessons panel (`lesson=ID&step=K` in the fragment opens one at a step); `arq info --lessons`
//! lists them and `--lesson ID` starts any command from a lesson's fragment.
//!
//! `lesson` and `step` are presentation keys: no computation reads them (tests/lessons.rs).

use crate::config::{ExperimentConfig, LessonChoice};
use crate::error::{Error, Result};
use serde::Serialize;

/// The most steps a lesson has (the `step` key's upper bound).
pub const MAX_STEPS: usize = 6;

/// One guided lesson.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Lesson {
    /// Short id, the `lesson` key's word (`noise`, `certificate`, `budget`, `reward`).
    pub id: &'static str,
    /// The lesson's title.
    pub title: &'static str,
    /// One sentence: what the student will see.
    pub summary: &'static str,
    /// The prepared state, a canonical fragment without '#' (it includes `lesson=ID`).
    pub fragment: &'static str,
    /// The steps, in order (3..=[`MAX_STEPS`]).
    pub steps: Vec<LessonStep>,
}

/// One step of a lesson.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct LessonStep {
    /// The step's heading.
    pub title: &'static str,
    /// What the step explains, a few sentences of plain text.
    pub text: &'static str,
    /// What the student does, one imperative sentence.
    pub action: &'static str,
    /// What the page does for the student on request.
    pub act: Act,
    /// The id of the page section the step points to.
    pub view: &'static str,
    /// The formula shown with the current run's numbers.
    pub formula: Formula,
}

/// What the page can do for the student.
#[derive(Clone, Copy, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Act {
    /// Nothing: the step asks the student to look.
    Look,
    /// Press the button with this element id.
    Press {
        /// The button's id.
        id: &'static str,
    },
    /// Change settings, as `key=value&...` pairs.
    Set {
        /// The settings to change.
        patch: &'static str,
    },
    /// Put a value into the input with this id (a view's own control, not a setting).
    Input {
        /// The input's id.
        id: &'static str,
        /// The value.
        value: &'static str,
    },
}

/// Which formula a step shows; the page renders it in MathML with the engine's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Formula {
    /// x_i = x + sigma * eps_i with the config's sigma and the noise view's k.
    Smoothing,
    /// g(x) = argmax_c #{f(x + sigma eps_i) = c}: the noise view's votes at the config's sigma.
    Votes,
    /// pA_low = B(alpha; nA, n - nA + 1) of the noise view's row at the config's sigma.
    PLower,
    /// R = sigma * PhiInv(pA_low) (or ABSTAIN) for every row of the noise view.
    Radius,
    /// P[g(x + delta) = cA for all ||delta|| < R] >= 1 - alpha, with the config's alpha.
    Guarantee,
    /// The latest certification's ACR and largest radius.
    RunSummary,
    /// R_max(n, alpha) = sigma * PhiInv(alpha^(1/n)), computed by the engine.
    RMax,
    /// BOPs = sum over layers of MACs * b_w * b_a for the current policy.
    Bops,
    /// BOPs / BOPs_FP32 against the budget.
    Budget,
    /// The quick read-out's ACR against FP32's.
    Readout,
    /// The two rewards, with the latest ARQ and HAQ runs' best episodes.
    Rewards,
    /// The spread of clean accuracy and of ACR over each search run's episodes.
    Spread,
    /// The final table's ACR of ARQ against the HAQ reward's.
    Final,
}

/// A step, briefly.
const fn step(
    title: &'static str,
    text: &'static str,
    action: &'static str,
    act: Act,
    view: &'static str,
    formula: Formula,
) -> LessonStep {
    LessonStep {
        title,
        text,
        action,
        act,
        view,
        formula,
    }
}

/// Every lesson, in the order the page offers them.
pub fn lessons() -> Vec<Lesson> {
    use Act::*;
    use Formula::*;
    vec![
        Lesson {
            id: "noise",
            title: "Noise and voting",
            summary: "How randomized smoothing turns a classifier's answers on noisy copies of a digit into a vote, a lower bound and a radius.",
            fragment: "v=2&lesson=noise",
            steps: vec![
                step("One digit, many noisy copies",
                     "Randomized smoothing never asks the classifier f about the clean digit alone. It adds Gaussian noise of standard deviation σ to every pixel and asks f again and again. Each tile is one noisy copy; its label is f's answer, green when right and red when wrong.",
                     "Look at the row marked \"config σ\": the same digit under k noise draws.",
                     Look, "noise-card", Smoothing),
                step("Votes",
                     "The smoothed classifier g answers with the class f picks most often under noise. A dozen draws is a rough poll; with more draws the shares settle.",
                     "Set the draws to 64.",
                     Input { id: "noise-k", value: "64" }, "noise-card", Votes),
                step("A lower bound, not a guess",
                     "The share of votes is a sample and could be luck. Certification replaces it by pA_low, a one-sided Clopper-Pearson lower bound that holds with probability 1 − α. (In this view the same draws choose the class and count it; the Certify card uses separate draws, n0 to choose and n to count.)",
                     "Compare pA_low with the plain share of votes below.",
                     Look, "noise-card", PLower),
                step("From votes to a radius",
                     "If pA_low is at least ½, no input closer than R = σ·Φ⁻¹(pA_low) can change g's answer; below ½ g abstains. More noise stretches the radius (it scales with σ) but splits the votes: at large σ f errs so often that pA_low falls and g abstains.",
                     "Add noisier rows: set the σ rows to 0.25, 1, 1.5, 2.",
                     Input { id: "noise-sigmas", value: "0.25, 1, 1.5, 2" }, "noise-card", Radius),
            ],
        },
        Lesson {
            id: "certificate",
            title: "What a certificate promises",
            summary: "What CERTIFY guarantees, why no radius can exceed R_max, and what the sample count n and the failure probability α do to it.",
            fragment: "v=2&points=20&lesson=certificate",
            steps: vec![
                step("The promise",
                     "CERTIFY gives each test digit a class and a radius. The promise is about the smoothed classifier g, not the network f: unless the noise samples were unlucky, which happens with probability at most α, no perturbation δ shorter than R (L2, in pixel units) changes g's answer. A digit whose bound stays below ½ gets ABSTAIN.",
                     "Press Certify (20 test digits, n = 1,000).",
                     Press { id: "certify-start" }, "certify-card", Guarantee),
                step("Your run",
                     "The average certified radius (ACR) counts a wrong or abstained digit as 0. The curve shows, for each radius r, the share of digits certified correct at r or beyond; it falls off a cliff before the dashed line.",
                     "Look at the curve and the table of your run.",
                     Look, "certify-card", RunSummary),
                step("The cap R_max",
                     "Even when all n samples agree, the lower bound cannot reach 1: it is α^(1/n). So no radius can exceed R_max, the dashed line, however robust the digit is. The cliff in the curve is this cap, not the network.",
                     "Find the dashed R_max line in the curve.",
                     Look, "certify-card", RMax),
                step("More samples, a higher cap",
                     "Ten times the samples push α^(1/n) towards 1 and lift the cap, at ten times the cost: the Certify card states the expected time before you run it.",
                     "Set n from 1,000 to 10,000, then press Certify again.",
                     Set { patch: "n=10000" }, "certify-card", RMax),
                step("α: how sure",
                     "α is the chance that a certificate is wrong. It enters the cap only as α^(1/n), so a hundred times less certainty moves R_max much less than ten times more samples do. Keep α small: a large α buys little radius and weakens every certificate.",
                     "Set α from 0.001 to 0.1 and watch R_max.",
                     Set { patch: "alpha=0.1" }, "certify-card", RMax),
            ],
        },
        Lesson {
            id: "budget",
            title: "What quantization costs",
            summary: "How bit operations measure a mixed-precision policy's cost, what the BOPs budget allows, and what the lost bits cost in certified robustness.",
            fragment: "v=2&budget=0.015625&lesson=budget",
            steps: vec![
                step("Bit operations",
                     "A quantized layer multiplies b_w-bit weights by b_a-bit inputs, so its cost per image is its multiply-accumulates (MACs) times b_w times b_a: bit operations, BOPs. Full precision counts 32 × 32 per MAC.",
                     "Press the W8A8 preset.",
                     Press { id: "bits-w8a8" }, "bits-card", Bops),
                step("The budget",
                     "The budget caps a policy's BOPs as a fraction of FP32's. This lesson's, 1/64, is exactly uniform W4A4 (4 × 4 = 16 of 1,024); W8A8 (64 of 1,024) is four times over it. The default experiment's, 1/192, leaves room for uniform W2A2 only (4 of 1,024).",
                     "Read the BOPs against the budget above the bars.",
                     Look, "bits-card", Budget),
                step("Fit the budget",
                     "HAQ's walk fits any policy: from the last layer to the first, it lowers the activation bits and then the weight bits by one until the BOPs fit. Cheap layers cost little, so the expensive ones lose bits first.",
                     "Press Fit budget.",
                     Press { id: "bits-fit" }, "bits-card", Budget),
                step("What the bits cost",
                     "Fewer bits mean coarser weights and activations. The quick read-out fine-tunes the quantized network briefly with noise and certifies it cheaply with IRS, next to the FP32 reference certified with CERTIFY. IRS radii have a lower cap (its R_max uses only n_p samples), so part of the gap is the cheaper certificate, not the bits: read out the FP32 preset the same way to see that part alone.",
                     "Press Evaluate (quick IRS).",
                     Press { id: "bits-eval" }, "bits-card", Readout),
                step("Your turn",
                     "Spend the budget differently: give one layer more bits and take them from another. Every policy within the budget costs the same; they need not be equally robust, which is what the search is for.",
                     "Drag a bar (or focus a column and press ↑ or ↓), then evaluate again.",
                     Look, "bits-card", Budget),
            ],
        },
        Lesson {
            id: "reward",
            title: "Why certify the reward?",
            summary: "The named experiment step by step: at half of W4A4's bit operations, a search rewarded by clean accuracy cannot see the robustness it throws away.",
            fragment: "v=2&budget=0.0078125&episodes=15&warmup=5&fft=150&lesson=reward",
            steps: vec![
                step("Scarce bits",
                     "The budget here is 1/128 of FP32's bit operations, half of uniform W4A4: not every layer can keep 4 bits, so how the bits are spread decides what robustness survives.",
                     "Read the budget; the bit editor shows what your current policy costs.",
                     Look, "search-card", Budget),
                step("ARQ's reward",
                     "Each search episode quantizes the network with the agent's policy, fine-tunes it briefly and scores it. ARQ scores the certified radius of the smoothed classifier, measured with IRS on a held-out search split.",
                     "Press Run ARQ (15 episodes).",
                     Press { id: "search-arq" }, "search-card", Rewards),
                step("HAQ's reward",
                     "HAQ scores clean accuracy instead. On these digits clean accuracy barely moves between policies, so HAQ's agent has almost nothing to learn from, while the certified radius still separates them.",
                     "Press Run HAQ-reward, then compare the spreads below.",
                     Press { id: "search-haq" }, "search-card", Spread),
                step("The fair comparison",
                     "The search scores are cheap and noisy. The final table fine-tunes each run's best policy longer and certifies it afresh on the reported test digits, with paired 95 % intervals; compare ARQ with HAQ's reward, and both with the best uniform policy within the budget, the honest baseline.",
                     "Press Compute the final table.",
                     Press { id: "final-start" }, "search-card", Final),
            ],
        },
    ]
}

/// The lesson `id`, or an error listing the ids.
pub fn lesson(id: &str) -> Result<Lesson> {
    lessons().into_iter().find(|l| l.id == id).ok_or_else(|| {
        Error::invalid(
            "lesson",
            id,
            "no such lesson",
            lessons()
                .iter()
                .map(|l| l.id)
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// How many steps the `lesson` setting's lesson has (0 for `none`).
pub(crate) fn steps_of(choice: LessonChoice) -> usize {
    lessons()
        .iter()
        .find(|l| l.id == choice.to_string())
        .map_or(0, |l| l.steps.len())
}

impl Lesson {
    /// The lesson's prepared config (its fragment parsed strictly).
    pub fn config(&self) -> Result<ExperimentConfig> {
        ExperimentConfig::from_fragment(self.fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Kind, SCHEMA};

    fn lesson_choices() -> &'static [&'static str] {
        match SCHEMA.iter().find(|f| f.key == "lesson").unwrap().kind {
            Kind::Enum { choices } => choices,
            k => panic!("{k:?}"),
        }
    }

    /// The lesson ids are the `lesson` key's words after `none`, in the same order.
    #[test]
    fn ids_are_the_schema_choices() {
        let ids: Vec<&str> = lessons().iter().map(|l| l.id).collect();
        assert_eq!(lesson_choices()[0], "none");
        assert_eq!(ids, lesson_choices()[1..]);
    }

    /// Every fragment parses strictly, is canonical and opens its own lesson at step 1; each
    /// step's settings patch parses strictly on top of it.
    #[test]
    fn fragments_parse_strictly() {
        for l in lessons() {
            let c = l.config().unwrap();
            assert_eq!(c.to_fragment(), l.fragment, "{}", l.id);
            assert_eq!((c.lesson.to_string(), c.step), (l.id.to_string(), 1));
            assert!((3..=MAX_STEPS).contains(&l.steps.len()), "{}", l.id);
            assert_eq!(steps_of(c.lesson), l.steps.len());
            for (i, s) in l.steps.iter().enumerate() {
                let f = format!("{}&step={}", l.fragment, i + 1);
                assert_eq!(
                    ExperimentConfig::from_fragment(&f).unwrap().step,
                    i as u32 + 1
                );
                if let Act::Set { patch } = s.act {
                    ExperimentConfig::from_fragment(&format!("{f}&{patch}")).unwrap();
                }
                assert!(!s.text.is_empty() && !s.action.is_empty(), "{} {i}", l.id);
            }
        }
        assert_eq!(lesson("noise").unwrap().steps.len(), 4);
        let e = lesson("nope").unwrap_err().to_string();
        assert!(
            e.contains("lesson=nope") && e.contains("noise, certificate"),
            "{e}"
        );
    }

    /// The reward lesson is the named experiment "Why certify the reward?" plus the lesson key.
    #[test]
    fn reward_lesson_is_the_named_experiment() {
        let x = crate::showcase::showcase("why-certify").unwrap();
        assert_eq!(
            lesson("reward").unwrap().fragment,
            format!("{}&lesson=reward", x.fragment)
        );
    }

    /// Every view, button and input a step names is an element of the page.
    #[test]
    fn steps_name_elements_of_the_page() {
        let html = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/www/index.html"))
            .unwrap();
        let has = |id: &str| html.contains(&format!("id=\"{id}\""));
        for l in lessons() {
            for s in &l.steps {
                assert!(has(s.view), "{}: view {}", l.id, s.view);
                match s.act {
                    Act::Press { id } | Act::Input { id, .. } => assert!(has(id), "{}: {id}", l.id),
                    Act::Look | Act::Set { .. } => {}
                }
            }
        }
    }

    /// `step` must be one of the lesson's steps, and 1 without a lesson: strictly an error
    /// naming the key, the value and the range; leniently dropped.
    #[test]
    fn step_is_checked_against_the_lesson() {
        let e = ExperimentConfig::from_fragment("v=2&lesson=noise&step=5")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("step=5") && e.contains("noise has 4 steps") && e.contains("1..=4"),
            "{e}"
        );
        let e = ExperimentConfig::from_fragment("v=2&step=2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("step=2") && e.contains("no lesson"), "{e}");
        let (c, notes) = ExperimentConfig::from_fragment_lenient("v=2&lesson=budget&step=6&seed=3");
        assert_eq!((c.step, c.seed, notes.len()), (1, 3, 1), "{notes:?}");
        assert_eq!(c.to_fragment(), "v=2&seed=3&lesson=budget");
        let c = ExperimentConfig::from_fragment("v=2&lesson=budget&step=5").unwrap();
        assert_eq!(c.to_fragment(), "v=2&lesson=budget&step=5");
    }
}
