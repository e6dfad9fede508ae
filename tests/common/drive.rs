//! Runs a session's job to its end through the one job API, as the page and the CLI do.

use arq::experiment::{JobEvent, JobSpec, Session};

/// Runs `spec` to its end in steps of 500 samples; every step's event, the first included.
pub fn drive(s: &mut Session, spec: JobSpec) -> Vec<JobEvent> {
    let kind = spec.kind();
    let mut out = vec![s.begin(spec).unwrap().event];
    loop {
        let st = s.step(kind, 500, &mut || 0).unwrap();
        out.push(st.event);
        if st.done {
            return out;
        }
    }
}
