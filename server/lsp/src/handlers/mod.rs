//! One module per LSP method or feature; each converts in, asks the editor layer, converts out.

pub mod code_action;
pub mod code_lens;
pub mod configuration;
pub mod execute_command;
pub mod hover;
pub mod initialize;
pub mod progress_cancel;
pub mod text_sync;
pub mod watched_files;
pub mod workspace_folders;
