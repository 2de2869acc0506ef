//! What the commands start from: a model with its tokenizer (a file or a built-in one), a
//! prompt's tokens, a target or a board (a built-in name or a file), and the model compiled for
//! it or a bundle compiled before.

use std::path::{Path, PathBuf};

use monorail_compiler::layout::MIN_ATTENTION_SETS;
use monorail_compiler::{compile, CompileError, CompileOptions, Compiled};
use monorail_contract::board::{self, Board, BoardError, RawBoard};
use monorail_contract::bundle::{Bundle, Manifest};
use monorail_contract::model_config::ModelConfig;
use monorail_contract::target::{RawTarget, Target};
use monorail_model::builtin;
use monorail_model::checkpoint::{self, Checkpoint};
use monorail_model::quant::{QuantModel, COARSE_SCALE_BITS};
use monorail_model::tokenizer::{Tokenizer, BOS};
use monorail_model::ModelError;

use crate::cli::{ModelArgs, PromptArgs};
use crate::error::{refused, CliError};
use monorail_contract::counted;

/// Whether `target` holds `model` with `options`' context (or, without one, any context): where
/// the model compiles with the least the compiler can choose (the fewest attention buffer sets,
/// products in one piece: the shortest program), so that the program memory and a context given
/// count as the other memories do. What a refusal that names other models or boards asks.
pub fn holds(model: &QuantModel, target: &Target, options: CompileOptions) -> bool {
    let least = CompileOptions {
        attention_sets: options.attention_sets.or(Some(MIN_ATTENTION_SETS)),
        product_pieces: Some(1),
        ..options
    };
    compile(model, target, least).is_ok()
}

/// What holds a host engine's positions, as [`positions_to_run`] names it.
pub const MODEL_CONTEXT: &str = " (the model's seq_len)";

/// What holds a bundle's positions, as [`positions_to_run`] names it.
pub const BUNDLE_CONTEXT: &str = " that the bundle holds";

/// What holds a machine's positions, as [`positions_to_run`] names it.
pub const MACHINE_CONTEXT: &str = " that the machine holds (--context, at most the target's)";

/// The positions a command runs for `-n steps` within a context of `context` positions: all of
/// it for 0, and at most all of it, with a warning on standard error where `-n` asks for more
/// (`holder` says whose context it is, after "positions").
pub fn positions_to_run(steps: usize, context: usize, holder: &str) -> usize {
    if steps > context {
        eprintln!(
            "monorail: warning: -n {steps} is past the context of {}{holder}: at most {context} run",
            counted(context, "position")
        );
    }
    if steps == 0 {
        context
    } else {
        steps.min(context)
    }
}

/// Warn on standard error where a prompt of `tokens` (BOS included) does not leave a position
/// of the `steps` that run (of a `context`) to what comes after it, `after` (what the command
/// does after the prompt: "nothing is generated").
pub fn warn_where_the_prompt_fills(tokens: usize, steps: usize, context: usize, after: &str) {
    if tokens > context {
        let runs = if steps < context {
            format!("-n {steps} runs its first {steps}")
        } else {
            format!("its first {steps} run")
        };
        eprintln!(
            "monorail: warning: the prompt's {tokens} tokens (BOS included) are more than the \
             context's {}: {runs}, and {after}",
            counted(context, "position")
        );
    } else if tokens > steps {
        eprintln!(
            "monorail: warning: the prompt's {tokens} tokens (BOS included) fill the {}: \
             {after} (-n {tokens} or more, at most {context})",
            counted(steps, "position")
        );
    }
}

/// A model with its tokenizer and a name for reports.
pub struct Loaded {
    pub checkpoint: Checkpoint,
    /// Its tokenizer: none where a checkpoint file was given without `-z`, which only the
    /// commands that read or write text need ([`Loaded::tokenizer`]).
    tokenizer: Option<Tokenizer>,
    pub name: String,
    /// Its tokenizer, for messages: the file, or the built-in model's.
    pub tokenizer_name: String,
    /// The built-in model it is, if it is one.
    pub builtin: Option<&'static builtin::BuiltinModel>,
    /// Its compilation with the default options for a target, where choosing the model compiled
    /// it ([`load_for`]): [`compile_for`] takes it instead of compiling the same again.
    compiled: std::cell::Cell<Option<(Target, CompileOptions, Compiled, std::time::Duration)>>,
}

impl Loaded {
    /// Its tokenizer, or the error that asks for one: a checkpoint file given without `-z`
    /// compiles (a bundle holds no tokenizer), but text needs it.
    pub fn tokenizer(&self) -> Result<&Tokenizer, CliError> {
        self.tokenizer.as_ref().ok_or_else(|| {
            refused(format!(
                "{}: give its tokenizer with -z FILE (llama2.c's tokenizer.bin): this command \
                 reads or writes text (compile, gen, bitstream and bench do not)",
                self.name
            ))
        })
    }

    /// The model quantised ([`Loaded::quantized`]) and compiled for `target` with `options`,
    /// and the time the compilation took: the one that choosing the model made, where it was
    /// for the same target and options (once), or a new one.
    pub fn compile(
        &self,
        target: &Target,
        options: CompileOptions,
    ) -> Result<(QuantModel, Compiled, std::time::Duration), CliError> {
        let quant = self.quantized();
        match self.compiled.take() {
            Some((made_for, made_with, compiled, took))
                if &made_for == target && made_with == options =>
            {
                Ok((quant, compiled, took))
            }
            _ => {
                let start = std::time::Instant::now();
                let compiled = compile(&quant, target, options).map_err(|e| match e {
                    CompileError::DoesNotFit { .. } => {
                        self.with_models_that_fit(e, target, options)
                    }
                    e => compile_error(e),
                })?;
                Ok((quant, compiled, start.elapsed()))
            }
        }
    }

    /// A refusal of this model for `target` (`e`, that it does not fit), with the built-in models
    /// that `target` [`holds`] with `options`: a board's target is fixed, where the model is not.
    fn with_models_that_fit(
        &self,
        e: CompileError,
        target: &Target,
        options: CompileOptions,
    ) -> CliError {
        let fit: Vec<&str> = builtin::MODELS
            .iter()
            .filter(|m| self.builtin.is_none_or(|b| b.name != m.name))
            .filter(|m| {
                m.load().is_ok_and(|(checkpoint, _)| {
                    holds(&QuantModel::quantize(&checkpoint), target, options)
                })
            })
            .map(|m| m.name)
            .collect();
        match fit.as_slice() {
            [] => compile_error(e),
            _ => refused(format!(
                "{e}; built-in models that {} holds: {}",
                target.name,
                fit.join(", ")
            )),
        }
    }

    /// The model quantised ([`QuantModel::quantize`]), with a warning on standard error, once a
    /// run for each model, where its matrices' row scales lose rows: the golden model and the
    /// machines then differ from the float reference by more than the format's rounding.
    pub fn quantized(&self) -> QuantModel {
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let quant = QuantModel::quantize(&self.checkpoint);
        let losses = quant.scale_losses();
        let first = || {
            let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            let first = !warned.contains(&self.name);
            if first {
                warned.push(self.name.clone());
            }
            first
        };
        if !losses.is_empty() && first() {
            {
                let listed: Vec<String> = losses
                    .iter()
                    .take(4)
                    .map(|l| {
                        let mut parts = Vec::new();
                        if l.zero > 0 {
                            parts.push(format!("{} of {} scaled to zero", l.zero, l.rows));
                        }
                        if l.coarse > 0 {
                            parts.push(format!(
                                "{} of {} kept with fewer than {COARSE_SCALE_BITS} bits of scale",
                                l.coarse, l.rows
                            ));
                        }
                        format!("{}: {}", l.tensor, parts.join(", "))
                    })
                    .collect();
                let more = losses.len().saturating_sub(listed.len());
                eprintln!(
                    "monorail: warning: {}: a matrix's rows share one exponent for their scales \
                     (docs/numerics.md, section 4), and rows far smaller than the largest lose \
                     theirs: {}{}; the integer model (golden, iss, rtl) differs from the float \
                     reference there (`monorail fidelity` measures by how much)",
                    self.name,
                    listed.join("; "),
                    if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
        }
        quant
    }
}

fn load_builtin(model: &'static builtin::BuiltinModel) -> Result<Loaded, CliError> {
    let (checkpoint, tokenizer) = model.load()?;
    Ok(Loaded {
        checkpoint,
        tokenizer: Some(tokenizer),
        name: format!("built-in {} ({})", model.name, model.description),
        tokenizer_name: format!("the tokenizer of built-in {}", model.name),
        builtin: Some(model),
        compiled: Default::default(),
    })
}

/// [`load`] for a machine: without `--model`, the first built-in model (the default first) that
/// `target` holds, so that `--target ecp5-25f` or `--board ulx3s-45f` alone takes the nano model
/// instead of refusing the default.
pub fn load_for(args: &ModelArgs, target: &Target) -> Result<Loaded, CliError> {
    if args.model.is_some() || args.tokenizer.is_some() {
        return load(args);
    }
    let mut refusals = Vec::new();
    for model in &builtin::MODELS {
        let loaded = load_builtin(model)?;
        let quant = QuantModel::quantize(&loaded.checkpoint);
        let start = std::time::Instant::now();
        match compile(&quant, target, CompileOptions::default()) {
            Ok(compiled) => {
                let took = start.elapsed();
                let options = CompileOptions::default();
                loaded
                    .compiled
                    .set(Some((target.clone(), options, compiled, took)));
                return Ok(loaded);
            }
            Err(e) => refusals.push(format!("{}: {e}", model.name)),
        }
    }
    Err(refused(format!(
        "no built-in model fits target {} (give one with --model): {}",
        target.name,
        refusals.join("; ")
    )))
}

/// A bundle read from its folder, with the target it was compiled for.
pub struct LoadedBundle {
    /// Its folder.
    pub dir: PathBuf,
    pub target: Target,
    pub bundle: Bundle,
}

/// The bundle at `path`: the folder that `compile` or `asm` wrote, or a file in it. Its target
/// is `target` (a built-in name or a target file), by default the built-in target its manifest
/// names. Every file is checked against the target and the manifest ([`Bundle::read`]).
pub fn load_bundle(path: &Path, target: Option<&str>) -> Result<LoadedBundle, CliError> {
    let dir = match path.parent() {
        Some(parent) if path.is_file() => parent,
        _ => path,
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !dir.join("manifest.json").is_file() {
        return Err(refused(format!(
            "{}: no bundle there (no manifest.json): give the folder that `monorail compile -o` \
             wrote",
            path.display()
        )));
    }
    let manifest = Manifest::read(dir).map_err(|e| refused(e.to_string()))?;
    let target = match target {
        Some(name) => load_target(name)?,
        None => Target::builtin(&manifest.target).map_err(|_| {
            refused(format!(
                "{}: compiled for target {}, which is not a built-in one: give its target file \
                 with --target (a board's core at another clock, as `gen --board` and \
                 `bitstream` make it, runs the same program as its target at its own clock: \
                 compile for that target)",
                dir.display(),
                manifest.target
            ))
        })?,
    };
    let bundle = Bundle::read(dir, &target).map_err(|e| refused(e.to_string()))?;
    Ok(LoadedBundle {
        dir: dir.to_path_buf(),
        target,
        bundle,
    })
}

/// A model's shape in words, for a refusal.
fn shape(c: &ModelConfig) -> String {
    format!(
        "dim {}, {} layers, {} heads ({} key/value), hidden {}, vocab {}, seq_len {}",
        c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.seq_len
    )
}

/// Whether `loaded` is the model that `bundle` was compiled from: its shape, and its weights as
/// the compiler lays them out for the bundle's target and context (the memory images, which
/// `asm` keeps), so that another model of the same shape is not taken for it. `Err` says why
/// not. (The tokenizer is not the bundle's to check: it holds none.)
fn compiled_from(loaded: &Loaded, bundle: &LoadedBundle) -> Result<(), String> {
    let m = &bundle.bundle.manifest;
    if loaded.checkpoint.config != m.model {
        return Err(format!(
            "{} has {}, and the bundle's model {}",
            loaded.name,
            shape(&loaded.checkpoint.config),
            shape(&m.model)
        ));
    }
    let quant = loaded.quantized();
    let images = compile(
        &quant,
        &bundle.target,
        CompileOptions::serving(Some(m.context)),
    )
    .map_err(|e| format!("{} does not compile for it: {e}", loaded.name))?
    .bundle;
    if images.matrix != bundle.bundle.matrix || images.vector != bundle.bundle.vector {
        return Err(format!(
            "its memory images are not those of {}, compiled for {} with {} positions: it was \
             compiled from another model of the same shape (or by another version of Monorail)",
            loaded.name, bundle.target.name, m.context
        ));
    }
    Ok(())
}

/// The model that `bundle` was compiled from, for its tokenizer and the golden model: the
/// flags' model, or without them the built-in model it was compiled from; another model is
/// refused ([`compiled_from`]).
pub fn load_for_bundle(args: &ModelArgs, bundle: &LoadedBundle) -> Result<Loaded, CliError> {
    let dir = bundle.dir.display();
    if args.model.is_some() || args.tokenizer.is_some() {
        let loaded = load(args)?;
        compiled_from(&loaded, bundle).map_err(|why| {
            refused(format!(
                "{dir} was not compiled from this model: {why}; give the model it was compiled \
                 from"
            ))
        })?;
        return Ok(loaded);
    }
    // Why a built-in model of the bundle's shape is not the one (its images differ): said
    // rather than that no built-in model has the shape.
    let mut same_shape = None;
    for model in &builtin::MODELS {
        let loaded = load_builtin(model)?;
        match compiled_from(&loaded, bundle) {
            Ok(()) => return Ok(loaded),
            Err(why) if loaded.checkpoint.config == bundle.bundle.manifest.model => {
                same_shape = Some(why);
            }
            Err(_) => {}
        }
    }
    Err(refused(match same_shape {
        Some(why) => format!(
            "{dir}: not compiled from a built-in model: {why}; give the model it was compiled \
             from with --model and --tokenizer"
        ),
        None => format!(
            "{dir}: compiled from a model of {}, none of the built-in ones: give it with --model \
             and --tokenizer",
            shape(&bundle.bundle.manifest.model)
        ),
    }))
}

/// The model of the flags: a checkpoint file with its tokenizer, a built-in model by name, or,
/// without `--model`, the default built-in model.
pub fn load(args: &ModelArgs) -> Result<Loaded, CliError> {
    match (&args.model, &args.tokenizer) {
        (None, None) => load_builtin(builtin::default_model()),
        (Some(name), None)
            if !name.exists() && builtin::by_name(&name.to_string_lossy()).is_some() =>
        {
            load_builtin(builtin::by_name(&name.to_string_lossy()).expect("checked"))
        }
        (None, Some(_)) => Err(refused(
            "--tokenizer was given without --model; the built-in model has its own tokenizer",
        )),
        (Some(model), Some(_))
            if !model.exists() && builtin::by_name(&model.to_string_lossy()).is_some() =>
        {
            Err(refused(format!(
                "{} is a built-in model, which has its own tokenizer: drop --tokenizer",
                model.display()
            )))
        }
        // A bare name, not a path: meant as a built-in model.
        (Some(model), _)
            if !model.exists()
                && model.components().count() == 1
                && model.extension().is_none() =>
        {
            // llama2.c's `-m` is the mode (`generate`, `chat`); here it is the model.
            let mode = matches!(model.to_str(), Some("generate" | "chat")).then_some(
                "; llama2.c's -m chooses a mode, Monorail's the model (give the checkpoint \
                 as --model, or first), and it generates text as llama2.c's default mode \
                 does: it has no chat mode",
            );
            Err(refused(format!(
                "{}: no such file, nor a built-in model ({}){}",
                model.display(),
                builtin::MODELS.map(|m| m.name).join(", "),
                mode.unwrap_or_default()
            )))
        }
        (Some(model), tokenizer) => {
            let checkpoint = checkpoint::load(model).map_err(|e| {
                let e = CliError::from(e);
                if looks_like_a_tokenizer(model) {
                    refused(format!(
                        "{} (it reads as a llama2.c tokenizer: -m takes the checkpoint, -z the \
                         tokenizer)",
                        e.message
                    ))
                } else {
                    e
                }
            })?;
            let (tokenizer, tokenizer_name) = match tokenizer {
                Some(path) => (
                    Some(
                        Tokenizer::load(path, checkpoint.config.vocab_size).map_err(|e| {
                            // (its header and length only: a checkpoint can be gigabytes)
                            let swapped = checkpoint::header(path)
                                .map(|_| {
                                    ": it is a llama2.c checkpoint, and -z takes the tokenizer \
                                     (tokenizer.bin)"
                                })
                                .unwrap_or("");
                            refused(format!(
                                "{e} (tokenizer for model {}, vocabulary of {} tokens){swapped}",
                                model.display(),
                                checkpoint.config.vocab_size
                            ))
                        })?,
                    ),
                    path.display().to_string(),
                ),
                None => (None, "no tokenizer (-z)".to_string()),
            };
            Ok(Loaded {
                checkpoint,
                tokenizer,
                name: model.display().to_string(),
                tokenizer_name,
                builtin: None,
                compiled: Default::default(),
            })
        }
    }
}

/// Whether the file at `path` starts as a llama2.c tokenizer does (its first tokens parse as the
/// model crate parses a tokenizer's), for a checkpoint that did not load: the two files given the
/// other way round.
fn looks_like_a_tokenizer(path: &Path) -> bool {
    /// The first tokens parsed, from at most the file's first bytes.
    const TOKENS: usize = 16;
    const HEAD_BYTES: u64 = 64 * 1024;
    // (opening a named pipe would wait for a writer)
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, HEAD_BYTES), &mut head)
        })
        .is_ok_and(|_| Tokenizer::parse(&head, TOKENS).is_ok())
}

/// The prompt of the flags as token ids, BOS first.
pub fn prompt_tokens(args: &PromptArgs, loaded: &Loaded) -> Result<Vec<u32>, CliError> {
    let vocab = loaded.checkpoint.config.vocab_size;
    match &args.prompt_tokens {
        Some(ids) => {
            let mut tokens = vec![BOS];
            // A trailing comma is forgiven; an empty id between two is a typo, refused.
            let items: Vec<&str> = ids.trim().trim_end_matches(',').split(',').collect();
            if items.len() > 1 && items.iter().any(|s| s.trim().is_empty()) {
                return Err(refused(format!(
                    "--prompt-tokens `{ids}`: an empty id between two commas"
                )));
            }
            for item in items.into_iter().filter(|s| !s.trim().is_empty()) {
                let id: u32 = item
                    .trim()
                    .parse()
                    .map_err(|_| refused(format!("--prompt-tokens: `{item}` is not a token id")))?;
                if id as usize >= vocab {
                    return Err(refused(format!(
                        "--prompt-tokens: token {id} is outside the model's vocabulary of {vocab} tokens"
                    )));
                }
                tokens.push(id);
            }
            Ok(tokens)
        }
        // BOS alone, as run.c encodes an empty prompt: no tokenizer needed.
        None if args.prompt.is_empty() => Ok(vec![BOS]),
        None => loaded
            .tokenizer()?
            .encode_bytes(
                std::os::unix::ffi::OsStrExt::as_bytes(args.prompt.as_os_str()),
                true,
                false,
            )
            .map_err(|e| match e {
                ModelError::NoDummyPrefix { .. } => refused(format!(
                    "{}: {e}: give the prompt as token ids instead (--prompt-tokens)",
                    loaded.tokenizer_name
                )),
                e => e.into(),
            }),
    }
}

/// The longest target, board or constraint file read: each is a few kilobytes, so a larger
/// file is the wrong one and is refused before it is read.
const MAX_DESCRIPTION_BYTES: u64 = 1 << 20;

/// The text of a target, board or constraint file (`what`), refused when it is larger than
/// such a file can be.
fn read_description(path: &Path, what: &str) -> Result<String, CliError> {
    let at = |e: std::io::Error| refused(format!("{what} {}: {e}", path.display()));
    let bytes = std::fs::metadata(path).map_err(at)?.len();
    if bytes > MAX_DESCRIPTION_BYTES {
        return Err(refused(format!(
            "{what} {}: {bytes} bytes; such a file is a few kilobytes (at most {MAX_DESCRIPTION_BYTES})",
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(at)
}

/// A built-in target by name, or a target file (`.toml`).
pub fn load_target(name: &str) -> Result<Target, CliError> {
    if !name.ends_with(".toml") && Path::new(name).is_file() {
        return Err(refused(format!(
            "{name}: a target file's name ends in .toml; a name without it is a built-in \
             target's ({})",
            monorail_contract::target::builtin_names().join(", ")
        )));
    }
    if name.ends_with(".toml") {
        let text = read_description(Path::new(name), "target file")?;
        let target = RawTarget::parse(&text)
            .and_then(|raw| raw.validate())
            .map_err(|e| refused(format!("{name}: {e}")))?;
        // A target of a built-in's name is that target: bundles, builds and the lists of
        // targets that fit know it by its name.
        match Target::builtin(&target.name) {
            Ok(builtin) if builtin.config_hash() != target.config_hash() => Err(refused(format!(
                "{name}: `name` is {}, a built-in target's, and the file differs from it: give \
                 your target a name of its own",
                target.name
            ))),
            _ => {
                warn_of_another_budget(name, &target);
                Ok(target)
            }
        }
    } else {
        Target::builtin(name).map_err(|e| refused(e.to_string()))
    }
}

/// Warn on standard error where a target file's `[device]` names a part that a built-in
/// target describes, with another budget: the estimates (`gen`, `targets`) use the file's.
fn warn_of_another_budget(name: &str, target: &Target) {
    let Some(device) = &target.device else {
        return;
    };
    let Some(known) = Target::builtins()
        .into_iter()
        .filter_map(|t| t.device)
        .find(|d| d.part == device.part)
    else {
        return;
    };
    for (field, given, has) in [
        (
            "block_rams",
            u64::from(device.block_rams),
            u64::from(known.block_rams),
        ),
        ("dsps", u64::from(device.dsps), u64::from(known.dsps)),
        ("luts", u64::from(device.luts), u64::from(known.luts)),
        (
            "spram_bits",
            device.spram_bits.unwrap_or(0),
            known.spram_bits.unwrap_or(0),
        ),
    ] {
        if given != has {
            eprintln!(
                "monorail: warning: {name}: `device.{field}` is {given}, where the {} has {has} \
                 (as the built-in targets describe it); the estimates use the file's",
                device.part
            );
        }
    }
}

/// What the board top of `board` refuses (a clock its PLL cannot make), as `gen` and
/// `bitstream` would after a compile, checked at once; named as the board file's where `name`
/// (as given) is one.
pub fn check_top(board: &Board, name: &str) -> Result<(), CliError> {
    monorail_hw::board::check_board_top(board, board.uart_baud).map_err(|e| {
        if name.ends_with(".toml") {
            refused(format!("board file {name}: {e}"))
        } else {
            refused(e.to_string())
        }
    })
}

/// A built-in board by name, or a board file (`.toml`): its constraint file is the one of that
/// name beside it, or else the built-in one (`ulx3s.lpf`), so that a board of another maker's
/// pins is two files and a variant of a built-in board is one.
pub fn load_board(name: &str) -> Result<Board, CliError> {
    load_board_and_pins(name).map(|(board, _)| board)
}

/// Where a built-in constraint file is read from, as `monorail boards` says it.
fn builtin_pins(file: &str) -> String {
    format!("constraints/{file}")
}

/// The built-in board `name`, and where its pins are ([`load_board_and_pins`]).
pub fn builtin_board_and_pins(name: &str) -> Result<(Board, String), CliError> {
    let board = Board::builtin(name).map_err(|e| refused(e.to_string()))?;
    let pins = builtin_pins(&board.constraints_file);
    Ok((board, pins))
}

/// [`load_board`], and where its constraint file was read: `constraints/NAME` for a built-in
/// one, else its path.
pub fn load_board_and_pins(name: &str) -> Result<(Board, String), CliError> {
    let path = Path::new(name);
    if !name.ends_with(".toml") {
        if path.is_file() {
            return Err(refused(format!(
                "{name}: a board file's name ends in .toml; a name without it is a built-in \
                 board's ({})",
                board::builtin_names().join(", ")
            )));
        }
        return builtin_board_and_pins(name);
    }
    let text = read_description(path, "board file")?;
    let raw = RawBoard::parse(name, &text).map_err(|e| refused(e.to_string()))?;
    let beside = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(&raw.constraints);
    let (constraints, pins) = if beside.is_file() {
        (
            Ok(read_description(&beside, "constraint file")?),
            beside.display().to_string(),
        )
    } else {
        let text = board::builtin_constraints(&raw.constraints)
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "no such file beside the board file ({}), nor a built-in constraint file \
                     ({})",
                    beside.display(),
                    board::BUILTIN_CONSTRAINTS.map(|(n, _)| n).join(", ")
                )
            });
        (text, builtin_pins(&raw.constraints))
    };
    let board = raw
        .validate(name, constraints.as_deref().map_err(String::as_str))
        .map_err(|e| match e {
            // Which file: the one beside the board file, or the built-in one of that name.
            BoardError::Constraints { message, .. } if beside.is_file() => refused(format!(
                "board file {name}: constraint file {}: {message}",
                beside.display()
            )),
            BoardError::Constraints { file, message } => refused(format!(
                "board file {name}: the built-in constraint file constraints/{file}: {message} \
                 (to change it, put a copy beside the board file)"
            )),
            e => refused(e.to_string()),
        })?;
    Ok((board, pins))
}

/// The model of `loaded` quantised and compiled for `target`, serving `context` positions (by
/// default the longest the target holds).
pub fn compile_for(
    loaded: &Loaded,
    target: Target,
    context: Option<usize>,
) -> Result<(Target, QuantModel, Compiled), CliError> {
    let (quant, compiled, _) = loaded.compile(&target, CompileOptions::serving(context))?;
    Ok((target, quant, compiled))
}

/// A compile error for the user: refused input (exit status 2), but for a compiler bug (1).
pub fn compile_error(e: CompileError) -> CliError {
    match e {
        CompileError::Internal { .. } => CliError::failed(e.to_string()),
        _ => refused(e.to_string()),
    }
}
