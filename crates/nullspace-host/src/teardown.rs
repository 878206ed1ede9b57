//! A stack of cleanup steps that runs once, last in first out, and reports every failure.

use std::future::Future;
use std::pin::Pin;

type Step = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Cleanup steps of one machine (or template build), pushed as resources are made.
#[derive(Default)]
pub struct Teardown {
    steps: Vec<(&'static str, Step)>,
}

impl std::fmt::Debug for Teardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.steps.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Teardown").field("steps", &names).finish()
    }
}

/// Every step that failed during a teardown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("teardown left {} failure(s): {}", .0.len(), .0.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct TeardownError(pub Vec<(&'static str, String)>);

impl Teardown {
    /// Add a step, to run before every step pushed earlier.
    pub fn push<F>(&mut self, name: &'static str, step: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.steps.push((name, Box::pin(step)));
    }

    /// Add a step that runs after every other step (at the bottom of the stack).
    pub fn push_final<F>(&mut self, name: &'static str, step: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.steps.insert(0, (name, Box::pin(step)));
    }

    /// Number of steps pending.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step is pending.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Run every step, newest first; a failing step does not stop the others.
    pub async fn run(mut self) -> Result<(), TeardownError> {
        let mut failures = Vec::new();
        while let Some((name, step)) = self.steps.pop() {
            if let Err(e) = step.await {
                tracing::warn!(step = name, error = %e, "teardown step failed");
                failures.push((name, e));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TeardownError(failures))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn runs_lifo_once_and_reports_all_failures() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut t = Teardown::default();
        for (name, fail) in [("a", false), ("b", true), ("c", true), ("d", false)] {
            let log = log.clone();
            t.push(name, async move {
                log.lock().unwrap().push(name);
                if fail {
                    Err(format!("{name} broke"))
                } else {
                    Ok(())
                }
            });
        }
        assert_eq!(t.len(), 4);
        let err = t.run().await.unwrap_err();
        assert_eq!(*log.lock().unwrap(), ["d", "c", "b", "a"]);
        assert_eq!(
            err.0,
            [("c", "c broke".to_owned()), ("b", "b broke".to_owned())]
        );
        assert!(err.to_string().contains("2 failure(s)"));
    }
}
