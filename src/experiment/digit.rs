//! The session's digit job ("Your digit"): a user's raster, preprocessed and certified under
//! FP32 and the config's quantized policy (src/digit/). Begun with the raster
//! ([`Session::begin_digit`]), stepped and cancelled like every other kind (`digit`).

use super::{JobEvent, JobKind, JobStep, Session};
use crate::digit::job::{DigitJob, DigitStep};
use crate::digit::preprocess;
use crate::error::Result;
use crate::job::{Job, Work};

impl Session {
    /// Preprocess the gray raster (`width * height` bytes) and start certifying it, replacing
    /// any digit job; a blank or mis-sized raster is an error naming `image`.
    pub fn begin_digit(&mut self, gray: &[u8], width: usize, height: usize) -> Result<JobStep> {
        let digit = preprocess(gray, width, height)?;
        let job = DigitJob::new(&self.cfg, &self.model, &self.data, digit)?;
        let step = JobStep::of(JobKind::Digit, (job.work(), job.report()), JobEvent::Digit);
        self.digit = Some(Box::new(job));
        Ok(step)
    }

    pub(super) fn digit_next(
        &mut self,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, DigitStep)> {
        let job = self
            .digit
            .as_mut()
            .ok_or_else(|| JobKind::Digit.not_running())?;
        let r = job.step(&self.data, budget, clock)?;
        let w = job.work();
        if r.done {
            self.digit = None;
        }
        Ok((w, r))
    }
}
