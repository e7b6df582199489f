//! The minijinja environment, configured for Jinja2 parity on configuration files.

use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use super::filters;
use super::sources::TemplateTree;

/// An environment that loads templates by name (relative to `templates/`) from `tree`.
pub fn environment(tree: Arc<TemplateTree>) -> Environment<'static> {
    let mut env = Environment::new();
    configure(&mut env);
    env.set_loader(move |name| load(&tree, name));
    env
}

/// The Jinja2-compatible settings, shared with the benchmark's naive baseline.
pub fn configure(env: &mut Environment<'_>) {
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        // Jinja2's default: one trailing newline is removed.
        .keep_trailing_newline(false)
        .build();
    // The builder only fails on conflicting custom delimiters; none are set here.
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Configuration files are not HTML, whatever their extension.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    minijinja_contrib::add_to_environment(env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    filters::register(env);
}

fn load(tree: &TemplateTree, name: &str) -> Result<Option<String>, Error> {
    if name.starts_with('/')
        || name
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty())
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "template name {name:?} leaves templates/ or is not normalised; name templates \
                 relative to templates/, e.g. \"partials/x.j2\""
            ),
        ));
    }
    match tree.files.get(name) {
        None => Ok(None),
        Some(data) => match std::str::from_utf8(data) {
            Ok(text) => Ok(Some(text.to_string())),
            Err(e) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{} is not UTF-8 text (invalid byte at offset {}); only text can be a \
                     template: drop the .j2 suffix to copy it byte for byte",
                    tree.path_of(name).display(),
                    e.valid_up_to()
                ),
            )),
        },
    }
}
