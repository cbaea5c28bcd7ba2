//! One vocabulary for what is wrong with a file the operator wrote (`config.yaml`, the
//! web config): a [`Problem`] at a key path, and [`Problems`] to list them one per line.
//! Both loaders collect every problem before they report, so a file is fixed in one pass.

use std::fmt;

/// One problem (unknown key, value of the wrong type, invalid value) at one key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A list of problems, one per line, indented under the sentence that names the file.
#[derive(Debug)]
pub struct Problems<'a>(pub &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {}: {}", p.path, p.message)?;
        }
        Ok(())
    }
}
