use super::*;

/// A "7"-like stroke figure, white on black, drawn at (ox, oy) in a w x h raster.
fn seven(w: usize, h: usize, ox: usize, oy: usize, thick: usize) -> Vec<u8> {
    let mut g = vec![0u8; w * h];
    let mut put = |x: usize, y: usize| {
        for dy in 0..thick {
            for dx in 0..thick {
                let (px, py) = (ox + x + dx, oy + y + dy);
                if px < w && py < h {
                    g[py * w + px] = 255;
                }
            }
        }
    };
    for x in 0..30 {
        put(x, 0); // the bar
    }
    for y in 0..45 {
        put(29 - y * 2 / 3, y); // the diagonal
    }
    g
}

fn centre_of_mass(p: &[u8]) -> (f64, f64) {
    let (mut m, mut x, mut y) = (0.0, 0.0, 0.0);
    for (i, &v) in p.iter().enumerate() {
        let v = v as f64;
        m += v;
        x += v * ((i % SIDE) as f64 + 0.5);
        y += v * ((i / SIDE) as f64 + 0.5);
    }
    (x / m, y / m)
}

#[test]
fn a_shifted_digit_comes_out_centred_and_the_same() {
    let a = preprocess(&seven(100, 80, 5, 3, 4), 100, 80).unwrap();
    let b = preprocess(&seven(100, 80, 61, 30, 4), 100, 80).unwrap();
    assert_eq!(a.pixels, b.pixels, "translation must not change the digit");
    assert_eq!(a.key, b.key);
    assert_eq!(a.bbox[..2], [5, 3]);
    assert_eq!(b.bbox[..2], [61, 30]);
    // the long side (height 48) fits 20 pixels, the other in proportion
    assert_eq!(a.scaled, [14, 20]);
    let (cx, cy) = centre_of_mass(&a.pixels);
    assert!(
        (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
        "{cx} {cy}"
    );
    // strokes keep full intensity somewhere, the corners stay black
    assert!(a.pixels.contains(&255));
    assert_eq!(a.pixels[0], 0);
    assert!(!a.inverted);
}

#[test]
fn an_inverted_digit_comes_out_right() {
    let light = seven(90, 90, 20, 20, 5);
    let dark: Vec<u8> = light.iter().map(|&v| 255 - v).collect();
    let a = preprocess(&light, 90, 90).unwrap();
    let b = preprocess(&dark, 90, 90).unwrap();
    assert!(b.inverted && !a.inverted);
    assert_eq!(a.pixels, b.pixels);
    // grey paper and grey ink: the background level is subtracted
    let grey: Vec<u8> = light
        .iter()
        .map(|&v| if v > 0 { 40 } else { 200 })
        .collect();
    let c = preprocess(&grey, 90, 90).unwrap();
    assert!(c.inverted);
    assert_eq!(c.background, 55);
    assert_eq!(a.pixels, c.pixels);
}

#[test]
fn a_blank_or_faint_raster_is_an_error_naming_the_image() {
    for g in [
        vec![0u8; 64 * 64],
        vec![255u8; 64 * 64],
        vec![128u8; 64 * 64],
    ] {
        let e = preprocess(&g, 64, 64).unwrap_err().to_string();
        assert!(
            e.starts_with("image=64x64 with contrast 0 of 255: blank"),
            "{e}"
        );
    }
    let mut faint = vec![10u8; 64 * 64];
    faint[32 * 64 + 32] = 30;
    let e = preprocess(&faint, 64, 64).unwrap_err().to_string();
    assert!(
        e.contains("contrast 20 of 255") && e.contains("at least 32"),
        "{e}"
    );
}

#[test]
fn sizes_outside_the_range_are_errors() {
    let e = preprocess(&[255], 1, 1).unwrap_err().to_string();
    assert!(
        e.contains("image=1x1") && e.contains("too small") && e.contains("8..=4096"),
        "{e}"
    );
    let e = check_size(5000, 5000, 25_000_000, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("image=5000x5000") && e.contains("too large"),
        "{e}"
    );
    let e = preprocess(&[0; 100], 28, 28).unwrap_err().to_string();
    assert!(e.contains("100 bytes for 28x28"), "{e}");
    let e = gray_from_rgba(&[0; 28 * 28], 28, 28)
        .unwrap_err()
        .to_string();
    assert!(e.contains("four RGBA bytes"), "{e}");
}

#[test]
fn rgba_becomes_gray_with_transparency_composited_against_the_strokes() {
    // opaque: Rec. 601 luminance
    let g = gray_from_rgba(&[255, 0, 0, 255].repeat(64), 8, 8).unwrap();
    assert_eq!(g[0], 76);
    // black strokes on a transparent canvas: over white
    let mut px = [0u8, 0, 0, 0].repeat(64);
    px[4 * 9..4 * 9 + 4].copy_from_slice(&[0, 0, 0, 255]);
    let g = gray_from_rgba(&px, 8, 8).unwrap();
    assert_eq!((g[0], g[9]), (255, 0));
    // white strokes on a transparent canvas: over black
    px[4 * 9..4 * 9 + 4].copy_from_slice(&[255, 255, 255, 255]);
    let g = gray_from_rgba(&px, 8, 8).unwrap();
    assert_eq!((g[0], g[9]), (0, 255));
}

#[test]
fn pgm_and_csv_round_trip_and_bad_files_are_named() {
    let g = seven(40, 50, 3, 2, 3);
    let r = read_image(&write_pgm(&g, 40, 50)).unwrap();
    assert_eq!((r.width, r.height, &r.gray), (40, 50, &g));
    // plain PGM with comments and maxval 15
    let mut p2 = String::from("P2 # plain\n8 8\n# max\n15\n");
    for i in 0..64 {
        p2.push_str(&format!("{} ", if i % 9 == 0 { 15 } else { 0 }));
    }
    let r = read_image(p2.as_bytes()).unwrap();
    assert_eq!((r.gray[0], r.gray[1], r.gray[9]), (255, 0, 255));
    // 16-bit binary
    let mut p5 = b"P5 8 8 65535\n".to_vec();
    for i in 0..64u16 {
        p5.extend_from_slice(&(i * 1000).to_be_bytes());
    }
    let r = read_image(&p5).unwrap();
    assert_eq!(r.gray[63], ((63_000 * 255 + 32767) / 65535) as u8);
    // CSV
    let csv: String = (0..8)
        .map(|y| {
            (0..8)
                .map(|x| (x * y).to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    let r = read_image(csv.as_bytes()).unwrap();
    assert_eq!((r.width, r.height, r.gray[63]), (8, 8, 49));
    for (bytes, needle) in [
        (&b"\x89PNG\r\n\x1a\n...."[..], "a PNG file"),
        (b"P6 8 8 255\n", "PBM/PPM"),
        (b"P5 8 8 255\n\x00\x01", "truncated"),
        (b"P5 8 8 0\n", "maxval 0"),
        (b"P5 2 2 255\n\x00\x00\x00\x00", "image=2x2"),
        (b"1,2,3\n4,5\n", "line 2 has 2 values"),
        (b"1,2,300\n", "'300' is not a gray level"),
        (b"\xff\xd8\xff", "a JPEG file"),
        (b"", "no rows"),
    ] {
        let e = read_image(bytes).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
        assert!(e.starts_with("file=") || e.starts_with("image="), "{e}");
    }
}
