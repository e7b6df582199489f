//! Jobs: services that run to completion (a schema migration, a one-time setup). A service is
//! a job when it says so (`x-nxinfra.job: true`) or when another service depends on it with
//! `condition: service_completed_successfully`, as Compose has it. A job must be able to
//! complete: no `restart: always` / `unless-stopped`, no healthcheck.

use super::model::Condition;
use super::normal::{Compose, Healthcheck, Job};
use super::options::Restart;
use super::report::Report;

/// Marks the services others wait for to complete as jobs, then checks every job.
pub fn mark_and_check(compose: &mut Compose, report: &mut Report) {
    let awaited: Vec<(String, String)> = compose
        .services
        .iter()
        .flat_map(|(name, s)| {
            s.depends_on
                .iter()
                .filter(|(_, c)| **c == Condition::ServiceCompletedSuccessfully)
                .map(move |(dep, _)| (dep.clone(), name.clone()))
        })
        .collect();
    for (dep, _) in &awaited {
        if let Some(service) = compose.services.get_mut(dep)
            && service.job.is_none()
        {
            service.job = Some(Job {
                timeout: Job::DEFAULT_TIMEOUT,
            });
        }
    }
    for (name, service) in &compose.services {
        if service.job.is_none() {
            continue;
        }
        if matches!(
            service.spec.restart,
            Restart::Always | Restart::UnlessStopped
        ) {
            report.service(
                name,
                &["restart"],
                "a job (x-nxinfra.job, or awaited with service_completed_successfully) must \
                 be able to complete: restart \"no\" or on-failure"
                    .into(),
            );
        }
        if matches!(service.spec.healthcheck, Some(Healthcheck::Check(_))) {
            report.service(
                name,
                &["healthcheck"],
                "a job has no healthcheck: it succeeds by exiting 0".into(),
            );
        }
    }
}
