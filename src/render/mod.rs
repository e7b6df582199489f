//! `render`: inventory + secrets + templates → `rendered/<host>/`, all hosts in parallel, into
//! a staging folder that replaces `rendered/` only when every host succeeded.

pub mod context;
pub mod engine;
pub mod filters;
pub mod lock;
pub mod lookup;
pub mod output;
pub mod sources;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minijinja::ErrorKind;

use crate::model::inventory::Inventory;
use crate::secrets::{Redactor, Secrets};
use context::{ContextError, SharedContext};
use sources::{LayoutError, TemplateTree};

/// Folder of the rendered trees, under the repository root.
pub const RENDERED_DIR: &str = "rendered";
/// Folder of the templates, under the repository root.
pub const TEMPLATES_DIR: &str = "templates";

/// What to render.
pub struct Job<'a> {
    pub root: &'a Path,
    pub inventory: &'a Inventory,
    pub secrets: &'a Secrets,
    /// Hosts to render, sorted.
    pub hosts: &'a [String],
    /// Whether `hosts` is a `--limit`ed subset (only their folders are replaced).
    pub limited: bool,
    /// How much one file may cost to render and weigh.
    pub limits: Limits,
}

/// The bounds on one output file, so that a hostile or mistaken template (two nested
/// `range(100000)` loops, an output of gigabytes) or a huge static file stops with an error
/// naming it instead of running for hours or exhausting memory (docs/reliability.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Template instructions one file's render may execute (minijinja's fuel): counted, not
    /// timed, so that a render that passes on a laptop passes in CI. The default is
    /// `--max-template-steps`'.
    pub steps: u64,
    /// Bytes one output file may have, rendered or copied; a larger static file is not read.
    pub file_bytes: u64,
}

/// The result of one host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostReport {
    pub host: String,
    pub files: usize,
    pub secret_files: usize,
    pub bytes: u64,
    /// Whether `rendered/<host>/` was (or, for `--check`, would be) changed.
    pub changed: bool,
}

pub use crate::model::tree::OutFile;

/// Every output file of one host: path relative to `rendered/<host>/` → file.
#[derive(Debug)]
pub struct HostTree {
    pub host: String,
    pub files: std::collections::BTreeMap<String, OutFile>,
}

impl HostTree {
    fn report(&self, changed: bool) -> HostReport {
        HostReport {
            host: self.host.clone(),
            files: self.files.len(),
            secret_files: self
                .files
                .iter()
                .filter(|(path, f)| f.mode != output::mode_for(path, false))
                .count(),
            bytes: self.files.values().map(|f| f.data.len() as u64).sum(),
            changed,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(
        "{}{} (host {host}): {message}",
        file.display(),
        line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    Template {
        file: PathBuf,
        line: Option<usize>,
        host: String,
        message: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is a symbolic link (to {}): render replaces what is in rendered/ and never follows \
         a link there (the files beside the link's target would be deleted); remove the link \
         (`rm {}`) and render again",
        path.display(),
        target.display(),
        path.display()
    )]
    LinkedOutput { path: PathBuf, target: PathBuf },
    #[error(transparent)]
    Lock(#[from] lock::LockError),
}

/// `rendered/` under `root`; refused when it is a symbolic link.
pub fn rendered_dir(root: &Path) -> Result<PathBuf, RenderError> {
    let path = root.join(RENDERED_DIR);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(RenderError::LinkedOutput {
            target: std::fs::read_link(&path).unwrap_or_default(),
            path,
        }),
        _ => Ok(path),
    }
}

/// Every error of a failed render (all hosts are rendered; all their errors are reported).
#[derive(Debug, thiserror::Error)]
#[error("{}", render_list(.0))]
pub struct RenderFailed(pub Vec<RenderError>);

fn render_list(errors: &[RenderError]) -> String {
    let mut lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    lines.dedup();
    let n = lines.len();
    let head = if n == 1 {
        String::new()
    } else {
        format!("{n} render errors:\n")
    };
    format!("{head}{}", lines.join("\n"))
}

/// Runs `f` on every item on a few worker threads; results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(items.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut all) = results.lock() {
                        all.push((i, r));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Renders every host of the job in memory, in parallel. Nothing is written.
pub fn render_all(job: &Job<'_>) -> Result<Vec<HostTree>, RenderFailed> {
    let mut trees = Vec::new();
    let mut errors = Vec::new();
    for (_, r) in render_each(job)? {
        match r {
            Ok(t) => trees.push(t),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(trees)
    } else {
        Err(RenderFailed(errors))
    }
}

/// Renders every host of the job in memory, in parallel, each host's result on its own (in
/// the job's order); an error in what every host shares (the template tree's layout, the
/// inventory's variables) fails the whole. Nothing is written.
pub fn render_each(job: &Job<'_>) -> Result<Vec<(String, HostResult)>, RenderFailed> {
    let tree = TemplateTree::read(&job.root.join(TEMPLATES_DIR), job.limits.file_bytes)
        .map_err(|e| RenderFailed(vec![e.into()]))?;
    sources::check_layout(
        tree.config_files(),
        &tree.ignored,
        job.inventory,
        &tree.root,
    )
    .map_err(|e| RenderFailed(vec![e.into()]))?;
    let shared = SharedContext::new(job.inventory, &job.secrets.doc)
        .map_err(|e| RenderFailed(vec![RenderError::Context(e.into())]))?;
    // Copied files holding a value of the secrets or of a vault-encrypted vars file are 0600.
    let mut leaves = job.secrets.leaves();
    leaves.extend(job.inventory.secret_leaves());
    let redactor = Redactor::new(leaves.iter().map(|(p, v)| (p.as_str(), v.as_str())));
    let tree = Arc::new(tree);
    let env = engine::environment(tree.clone(), job.limits.steps);
    let results = parallel(job.hosts, |host| {
        render_host(job, &tree, &env, &shared, &redactor, host)
    });
    Ok(job.hosts.iter().cloned().zip(results).collect())
}

/// One host's render: its tree, or every error found in it.
pub type HostResult = Result<HostTree, Vec<RenderError>>;

fn render_host(
    job: &Job<'_>,
    tree: &TemplateTree,
    env: &minijinja::Environment<'static>,
    shared: &SharedContext,
    redactor: &Redactor,
    host: &str,
) -> HostResult {
    let plan = sources::plan_host_files(tree.config_files(), job.inventory, host, &tree.root)
        .map_err(|e| vec![e.into()])?;
    let touched = Arc::new(AtomicBool::new(false));
    let ctx = shared
        .for_host(job.inventory, host, &touched)
        .map_err(|e| vec![e.into()])?;
    let mut files = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for (out_path, planned) in &plan {
        touched.store(false, Ordering::Relaxed);
        let data: Arc<[u8]> = if planned.render {
            let mut out = output::Bounded::new(job.limits.file_bytes);
            let rendered = env
                .get_template(&planned.source)
                .and_then(|t| t.render_captured_to(&ctx, &mut out).map(drop));
            match rendered {
                Ok(()) => out.into_inner().into(),
                Err(e) => {
                    errors.push(template_error(tree, host, &planned.source, &e, &job.limits));
                    continue;
                }
            }
        } else {
            tree.files.get(&planned.source).cloned().unwrap_or_default()
        };
        let secret = holds_secret(planned, touched.load(Ordering::Relaxed), redactor, &data);
        let mode = output::mode_for(out_path, secret);
        files.insert(out_path.clone(), OutFile { data, mode });
    }
    if errors.is_empty() {
        Ok(HostTree {
            host: host.to_string(),
            files,
        })
    } else {
        Err(errors)
    }
}

/// Whether an output holds secret material: a rendered file exactly when its template read a
/// secret (`touched`), a copied file when it contains a secret value literally.
pub fn holds_secret(
    planned: &sources::PlannedFile,
    touched: bool,
    redactor: &Redactor,
    data: &[u8],
) -> bool {
    if planned.render {
        touched
    } else {
        redactor.contains_secret(data)
    }
}

/// A template error naming the file (the partial where it happened, if any), line, host and,
/// for undefined values, the expression.
fn template_error(
    tree: &TemplateTree,
    host: &str,
    planned: &str,
    err: &minijinja::Error,
    limits: &Limits,
) -> RenderError {
    // The innermost minijinja error knows the template that actually failed.
    let mut inner = err;
    while let Some(next) =
        std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        inner = next;
    }
    let err = if inner.name().is_some() { inner } else { err };
    let name = err.name().unwrap_or(planned);
    let expression = match (err.template_source(), err.range()) {
        (Some(src), Some(range)) => failing_expression(src, range),
        _ => None,
    };
    let detail = err.detail().unwrap_or_default();
    let message = match err.kind() {
        ErrorKind::UndefinedError => match &expression {
            Some(expr) if expr.contains('|') => format!("undefined value in `{expr}`"),
            Some(expr) if !expr.is_empty() => format!("undefined variable `{expr}`"),
            _ => "undefined variable".to_string(),
        },
        ErrorKind::SyntaxError => format!("template syntax error: {detail}"),
        ErrorKind::TemplateNotFound => format!("{detail} (no such file under templates/)"),
        ErrorKind::OutOfFuel => format!(
            "stopped after {} template steps, the limit of one file (a loop that does not \
             end, or loops nested too deep?); a template that needs more: --max-template-steps",
            limits.steps
        ),
        // The only writer that fails is the bounded one.
        ErrorKind::WriteFailure => format!(
            "stopped: the output exceeds {}, the limit of one file (--max-file-mib)",
            crate::util::size::human(limits.file_bytes)
        ),
        kind => {
            let at = expression
                .as_ref()
                .filter(|e| !e.is_empty() && e.len() < 120)
                .map(|e| format!(" in `{e}`"))
                .unwrap_or_default();
            if detail.is_empty() {
                format!("{kind}{at}")
            } else {
                format!("{kind}: {detail}{at}")
            }
        }
    };
    let mut message = if name != planned {
        format!(
            "{message} (included from {})",
            tree.path_of(planned).display()
        )
    } else {
        message
    };
    if err.kind() == ErrorKind::UndefinedError
        && expression
            .as_ref()
            .is_some_and(|e| e.contains("secrets.wireguard"))
    {
        message.push_str(
            "; a WireGuard key missing? `nxinfra wg` makes the keys new hosts and peers need",
        );
    }
    RenderError::Template {
        file: tree.path_of(name),
        line: err.line(),
        host: host.to_string(),
        message,
    }
}

/// The text of the failing expression. When minijinja points at a filter (`upper` in
/// `{{ nope | upper }}`, whose input was undefined), the whole tag is shown instead, so the
/// message names the variable rather than the filter.
fn failing_expression(src: &str, range: std::ops::Range<usize>) -> Option<String> {
    // minijinja may point at the failing attribute only (`.db.x` of `secrets.db.x`): widen the
    // range to the whole dotted name.
    let start = src
        .get(..range.start)?
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        .len();
    let range = start..range.end;
    let narrow = src.get(range.clone())?.trim();
    let before = src.get(..range.start)?.trim_end();
    if !before.ends_with('|') {
        return Some(narrow.to_string());
    }
    let open = before.rfind("{{").max(before.rfind("{%"))? + 2;
    let after = src.get(range.end..)?;
    let close = match (after.find("}}"), after.find("%}")) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Some(narrow.to_string()),
    };
    let whole = src.get(open..range.end + close)?;
    Some(
        whole
            .trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+')
            .to_string(),
    )
}

/// Renders every host, then updates `rendered/`: only hosts whose files changed are written
/// (into a staging folder, then swapped in per host); a full render also drops folders of hosts
/// that left the inventory. Any render error leaves `rendered/` untouched.
///
/// All of it holds the repository's render lock ([`lock`]), waiting up to `lock_timeout` for
/// another render (`waiting` is told who holds it), and first removes the staging folders of
/// renders that were killed.
pub fn render(
    job: &Job<'_>,
    lock_timeout: Duration,
    waiting: impl FnMut(&str),
) -> Result<Rendered, anyhow::Error> {
    let rendered = rendered_dir(job.root)?;
    let _lock = lock::acquire(job.root, lock_timeout, waiting).map_err(RenderError::from)?;
    lock::remove_abandoned_staging(job.root);
    let trees = render_all(job)?;
    let changed = parallel(&trees, |t| {
        output::differences(&t.files, &rendered.join(&t.host)).map(|d| !d.is_empty())
    })
    .into_iter()
    .collect::<Result<Vec<bool>, _>>()
    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", rendered.display()))?;
    let staging = output::staging_dir(job.root).map_err(|e| {
        anyhow::anyhow!(
            "cannot create a staging folder in {}: {e}",
            job.root.display()
        )
    })?;
    let to_write: Vec<&HostTree> = trees
        .iter()
        .zip(&changed)
        .filter_map(|(t, c)| c.then_some(t))
        .collect();
    parallel(&to_write, |t| {
        output::write_host(
            &t.files,
            &rendered.join(&t.host),
            &staging.path().join(&t.host),
        )
    })
    .into_iter()
    .collect::<Result<Vec<()>, _>>()
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot write the render into {}: {e}",
            staging.path().display()
        )
    })?;
    let hosts: Vec<String> = to_write.iter().map(|t| t.host.clone()).collect();
    let keep = (!job.limited).then(|| job.hosts.iter().cloned().collect());
    output::install(staging.path(), &rendered, &hosts, keep.as_ref()).map_err(|e| {
        anyhow::anyhow!("cannot install the render into {}: {e}", rendered.display())
    })?;
    let reports = trees
        .iter()
        .zip(changed)
        .map(|(t, c)| t.report(c))
        .collect();
    Ok(Rendered { reports, trees })
}

/// What [`render`] did, and the rendered trees (the files sync pushes).
pub struct Rendered {
    pub reports: Vec<HostReport>,
    pub trees: Vec<HostTree>,
}

/// Renders every host in memory and lists how `rendered/` differs from it (`host/path: what`).
pub fn check(job: &Job<'_>) -> Result<Vec<String>, anyhow::Error> {
    let rendered = rendered_dir(job.root)?;
    let trees = render_all(job)?;
    let mut out = Vec::new();
    for tree in &trees {
        let diffs = output::differences(&tree.files, &rendered.join(&tree.host))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", rendered.display()))?;
        out.extend(diffs.into_iter().map(|d| format!("{}/{d}", tree.host)));
    }
    if !job.limited {
        for stray in output::strays(&rendered, &job.hosts.iter().cloned().collect())
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", rendered.display()))?
        {
            out.push(format!(
                "{stray}: in rendered/ but not a host of the inventory"
            ));
        }
    }
    Ok(out)
}
