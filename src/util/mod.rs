//! Small utilities every layer may use: YAML reading with lines, suggestions for misspelt
//! names, shell quoting, sizes, pipes, colour and progress on a terminal, signals.

pub mod color;
pub mod interrupt;
pub mod pipe;
pub mod progress;
pub mod redact;
pub mod shell;
pub mod size;
pub mod suggest;
pub mod yaml;
