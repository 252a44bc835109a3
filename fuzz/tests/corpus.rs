//! The short fuzz run that `cargo test` makes (CI): every committed corpus
//! input and every crash kept in `fuzz/regressions/<target>/` replayed
//! through its target, then a bounded number of cheap mutations of them
//! (bit flips, truncations, splices; a fixed seed, so a failure repeats).
//! The coverage-guided runs are `fuzz/run.sh` (docs/fuzzing.md).

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target, usize); 5] = [
    ("frame_decoder", periscope_fuzz::frame_decoder, 4000),
    ("delta_apply", periscope_fuzz::delta_apply, 300),
    ("sock_diag", periscope_fuzz::sock_diag, 4000),
    ("conntrack", periscope_fuzz::conntrack, 4000),
    ("proc_parsers", periscope_fuzz::proc_parsers, 400),
];

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut inputs: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|name| !name.to_string_lossy().starts_with('.')))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

/// xorshift64*: a fixed, dependency-free stream of choices.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(input: &[u8], other: &[u8], choices: &mut Choices) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=choices.below(4) {
        match choices.below(5) {
            0 if !out.is_empty() => {
                let at = choices.below(out.len());
                out[at] ^= 1 << choices.below(8);
            }
            1 if !out.is_empty() => {
                let at = choices.below(out.len());
                out[at] = [0, 0xff, 0x7f, 0x80, 1][choices.below(5)];
            }
            2 => out.truncate(choices.below(out.len() + 1)),
            3 if !other.is_empty() => {
                let (from, at) = (choices.below(other.len()), choices.below(out.len() + 1));
                let piece = &other[from..(from + 1 + choices.below(64)).min(other.len())];
                out.splice(at..at, piece.iter().copied());
            }
            _ if !out.is_empty() => {
                let at = choices.below(out.len());
                out.remove(at);
            }
            _ => out.push(choices.next() as u8),
        }
    }
    out
}

#[test]
fn every_corpus_input_and_regression_runs_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (name, target, _) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "no seed corpus for {name}: run `cargo run -p periscope-fuzz --bin periscope-fuzz-seeds`"
        );
        for (path, bytes) in corpus.iter().chain(inputs(&root.join("regressions").join(name)).iter()) {
            eprintln!("{name}: {}", path.display());
            target(bytes);
        }
    }
}

#[test]
fn mutations_of_the_corpus_run_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (name, target, rounds) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        let mut choices = Choices(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for round in 0..rounds {
            let (_, input) = &corpus[round % corpus.len()];
            let (_, other) = &corpus[choices.below(corpus.len())];
            let mutated = mutate(input, other, &mut choices);
            let outcome = std::panic::catch_unwind(|| target(&mutated));
            if outcome.is_err() {
                let kept = root.join("regressions").join(name);
                std::fs::create_dir_all(&kept).unwrap();
                let path = kept.join(format!("mutation-{round}"));
                std::fs::write(&path, &mutated).unwrap();
                panic!("{name} panicked on a mutation of the corpus, kept as {}", path.display());
            }
        }
    }
}
