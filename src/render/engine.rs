//! The minijinja environment, configured for Jinja2 parity on configuration files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use super::filters;
use super::sources::TemplateTree;

/// An environment that loads templates by name (relative to `templates/`) from `tree`, each
/// render stopped after `steps` instructions.
pub fn environment(tree: Arc<TemplateTree>, steps: u64) -> Environment<'static> {
    let mut env = Environment::new();
    configure(&mut env);
    env.set_fuel(Some(steps));
    // The repository's root: templates/ is in it.
    add_lookup(
        &mut env,
        tree.root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    );
    env.set_loader(move |name| load(&tree, name));
    env
}

/// `lookup('file', PATH)`: files of the repository at `root` ([`super::lookup`]).
pub fn add_lookup(env: &mut Environment<'_>, root: PathBuf) {
    env.add_function("lookup", move |kind: String, path: String| {
        if kind != "file" {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("lookup({kind:?}, ...): only the 'file' lookup is supported"),
            ));
        }
        super::lookup::file(&root, &path)
            .map_err(|why| Error::new(ErrorKind::InvalidOperation, why.to_string()))
    });
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
    // minijinja keeps the failing template's source and span in its errors only in debug mode,
    // which defaults to `cfg!(debug_assertions)`: off in the release build, whose errors then
    // could not name the undefined variable (`tailnet`) nor hint at `nxinfra wg`. On in every
    // build: release and debug must report the same errors. The cost is paid on errors only.
    env.set_debug(true);
    // Configuration files are not HTML, whatever their extension.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    minijinja_contrib::add_to_environment(env);
    env.set_unknown_method_callback(filters::unknown_method);
    env.set_formatter(filters::formatter);
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
            // Jinja2's lexer writes every line ending of the template as `\n` (its
            // `newline_sequence`): a template saved with CRLF renders LF, as with Jinja2.
            Ok(text) if text.contains('\r') => {
                Ok(Some(text.replace("\r\n", "\n").replace('\r', "\n")))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `source` (as template `name`) with `ctx`, through the real environment.
    fn render_named(name: &str, source: &str, ctx: minijinja::Value) -> Result<String, Error> {
        let mut tree = TemplateTree::default();
        tree.files
            .insert(name.to_string(), source.as_bytes().into());
        tree.files.insert(
            "partials/greet.j2".into(),
            b"{% macro greet(n) %}hello {{ n }}{% endmacro %}\n"[..].into(),
        );
        let env = environment(Arc::new(tree), 100_000_000);
        env.get_template(name)?.render(ctx)
    }

    fn render(source: &str) -> Result<String, Error> {
        render_named(
            "config/g/t.j2",
            source,
            minijinja::context! { ip => "2001:db8:1:2:aaaa:bbbb:cccc:dddd", n => 3, items => vec![1, 2] },
        )
    }

    #[test]
    fn errors_carry_the_template_source_in_every_build() {
        // minijinja's default is `cfg!(debug_assertions)`: this holds in the test build either
        // way; the release binary is checked by tests/hostile_render.rs.
        assert!(environment(Arc::new(TemplateTree::default()), 1).debug());
        let err = render("{{ nope }}").unwrap_err();
        assert!(err.template_source().is_some() && err.range().is_some());
    }

    #[test]
    fn trim_and_lstrip_blocks_like_jinja2() {
        let t = "{% for x in items %}\n  {% if x %}\nv{{ x }}\n  {% endif %}\n{% endfor %}\nend\n";
        assert_eq!(render(t).unwrap(), "v1\nv2\nend");
    }

    #[test]
    fn crlf_line_endings_render_as_lf_like_jinja2() {
        assert_eq!(render("a\r\nb\rc\r\n").unwrap(), "a\nb\nc");
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(render("a\n").unwrap(), "a");
        assert_eq!(render("a\n\n").unwrap(), "a\n");
        assert_eq!(render("a").unwrap(), "a");
    }

    #[test]
    fn undefined_is_strict_but_tests_and_default_work() {
        assert_eq!(
            render("{{ missing }}").unwrap_err().kind(),
            ErrorKind::UndefinedError
        );
        assert_eq!(
            render("{{ n.missing.deeper }}").unwrap_err().kind(),
            ErrorKind::UndefinedError
        );
        assert!(render("{% for x in missing %}{% endfor %}").is_err());
        assert_eq!(render("{{ missing | default('d') }}").unwrap(), "d");
        assert_eq!(
            render("{% if missing is defined %}y{% else %}n{% endif %}").unwrap(),
            "n"
        );
    }

    #[test]
    fn no_auto_escaping_whatever_the_extension() {
        for name in ["config/g/x.html.j2", "config/g/x.xml.j2", "config/g/x.j2"] {
            let out = render_named(name, "{{ '<a href=\"x\">&</a>' }}", minijinja::context! {});
            assert_eq!(out.unwrap(), "<a href=\"x\">&</a>", "{name}");
        }
    }

    #[test]
    fn python_string_methods_and_slices() {
        assert_eq!(
            render("{{ 'fe80::' + ':'.join(ip.split(':')[-4:]) }}").unwrap(),
            "fe80::aaaa:bbbb:cccc:dddd"
        );
        // Jinja2 prints Python booleans.
        assert_eq!(
            render("{{ 'abc'.upper() }} {{ 'abc'.startswith('a') }}").unwrap(),
            "ABC True"
        );
        assert_eq!(
            render("{{ 'a-b'.replace('-', '_') }} {{ ' x '.strip() }}").unwrap(),
            "a_b x"
        );
        assert_eq!(
            render("{{ 'abcdef'[1:3] }} {{ items[-1] }} {{ items[::-1] }}").unwrap(),
            "bc 2 [2, 1]"
        );
    }

    #[test]
    fn builtin_filters_operators_use() {
        assert_eq!(render("{{ 'a\\nb' | indent(2) }}").unwrap(), "a\n  b");
        assert_eq!(render("{{ 'x' | upper }}").unwrap(), "X");
        assert_eq!(
            render("{{ {'b': 1, 'a': [1, 'x']} | tojson }}").unwrap(),
            r#"{"a": [1, "x"], "b": 1}"#
        );
        assert_eq!(
            render("{{ items | join(',') }} {{ items | length }}").unwrap(),
            "1,2 2"
        );
    }

    #[test]
    fn partials_and_macros_load_by_name() {
        let out = render("{% import 'partials/greet.j2' as g %}{{ g.greet('core') }}").unwrap();
        assert_eq!(out, "hello core");
        let err = render("{% include 'partials/../../x' %}").unwrap_err();
        assert!(err.to_string().contains("leaves templates/"), "{err}");
        let err = render("{% include 'partials/nope.j2' %}").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TemplateNotFound);
    }
}
