//! The application layer: the command line, logging, signals, progress
//! display, the control-socket client and the text of query commands.

pub mod cli;
pub mod commands;
pub mod query;
pub mod startnode;
