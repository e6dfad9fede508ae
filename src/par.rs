//! Batches split over every core, natively (rayon), with results that cannot depend on the
//! number of threads: the pieces are independent samples (no reduction crosses a piece) and
//! their outputs are written back in batch order. In wasm, and inside a one-thread rayon
//! pool, the same pieces run one after another.

/// `f` maps `n` consecutive inputs of `x` (`in_len` values each) to their `out_len` values
/// each; this runs it over the whole batch of `batch` inputs in pieces of `piece` inputs, in
/// parallel natively, and returns the outputs in batch order.
pub(crate) fn map_batch<F>(
    x: &[f32],
    batch: usize,
    in_len: usize,
    out_len: usize,
    piece: usize,
    f: F,
) -> Vec<f32>
where
    F: Fn(&[f32], usize) -> Vec<f32> + Sync,
{
    debug_assert!(x.len() >= batch * in_len && piece > 0);
    let mut out = vec![0.0; batch * out_len];
    let run = |(xs, os): (&[f32], &mut [f32])| {
        let n = xs.len() / in_len.max(1);
        let y = f(xs, n);
        debug_assert_eq!(y.len(), os.len());
        os.copy_from_slice(&y);
    };
    let xs = x[..batch * in_len].chunks(piece * in_len.max(1));
    let os = out.chunks_mut(piece * out_len.max(1));
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        let pieces: Vec<(&[f32], &mut [f32])> = xs.zip(os).collect();
        pieces.into_par_iter().for_each(run);
    }
    #[cfg(target_arch = "wasm32")]
    xs.zip(os).for_each(run);
    out
}

/// Fills `out` (`rows` rows of `len` values) with `f(row index, row)`, rows in parallel
/// natively.
pub(crate) fn fill_rows<F>(out: &mut [f32], len: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    if len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        out.par_chunks_exact_mut(len)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
    #[cfg(target_arch = "wasm32")]
    out.chunks_exact_mut(len)
        .enumerate()
        .for_each(|(i, row)| f(i, row));
}
