//! The distributed deployment scaled out: several processes (replicas) of
//! each service on the same databases and queues, the gateways behind a
//! round-robin TCP proxy as behind a load balancer. A replica can be killed
//! (SIGKILL) and started again on its port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use test_support::process::free_port;
use test_support::proxy::TcpProxy;

use crate::ServiceProcess;
use crate::deployment::{Deployment, Setup};

/// Consumers first: the gateway publishes only once their queues exist.
const ORDER: [&str; 4] = ["identity", "team", "licensing", "scim-gateway"];

/// One process of a service, numbered from 1.
pub struct Replica {
    pub service: &'static str,
    pub index: usize,
    pub port: u16,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    dir: PathBuf,
    process: Option<ServiceProcess>,
    /// How many times it was started.
    pub starts: usize,
}

impl Replica {
    pub fn name(&self) -> String {
        format!("{}-{}", self.service, self.index)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again, after [`Replica::kill`]) on its port; its
    /// log is appended to.
    pub fn start(&mut self) {
        let process =
            ServiceProcess::start(&self.name(), &self.binary, &self.environment, &self.dir)
                .unwrap();
        self.process = Some(process);
        self.starts += 1;
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name()))).unwrap_or_default()
    }

    /// Waits (120 s at the most: a loaded machine starting a debug build)
    /// until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.url());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            let process = self.process.as_mut().expect("started");
            assert!(
                !process.exited(),
                "{} exited:\n{}",
                self.name(),
                self.output()
            );
            assert!(
                Instant::now() < deadline,
                "{} not ready within 120 s:\n{}",
                self.name(),
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct Cluster {
    pub setup: Setup,
    pub replicas: Vec<Replica>,
    /// The gateways' load balancer.
    pub proxy: TcpProxy,
    /// For `scimctl` and the admin APIs: the gateways through the proxy,
    /// each other service through its last replica.
    pub deployment: Deployment,
}

impl Cluster {
    /// `count` replicas of every service with compose's environment and
    /// `extra` (service, variable, value) on top. Replicas of a service start
    /// one after the other (the first runs the migrations), consumers before
    /// gateways.
    pub async fn start(
        amqp_url: String,
        otlp_endpoint: &str,
        count: usize,
        extra: &[(&str, &str, &str)],
    ) -> Option<Cluster> {
        let setup = Setup::new(amqp_url, otlp_endpoint).await?;
        let mut replicas = Vec::new();
        for service in ORDER {
            for index in 1..=count {
                let port = free_port();
                let (binary, environment) = setup.service(service, port, extra);
                let mut replica = Replica {
                    service,
                    index,
                    port,
                    binary,
                    environment,
                    dir: setup.root.join(format!("{service}-{index}")),
                    process: None,
                    starts: 0,
                };
                replica.start();
                replica.wait_ready().await;
                replicas.push(replica);
            }
        }
        let gateways: Vec<SocketAddr> = replicas
            .iter()
            .filter(|r| r.service == "scim-gateway")
            .map(|r| SocketAddr::from(([127, 0, 0, 1], r.port)))
            .collect();
        let proxy = TcpProxy::round_robin(gateways).await.unwrap();
        let mut deployment = setup.deployment();
        for replica in replicas.iter().filter(|r| r.index == count) {
            deployment.urls.insert(replica.service, replica.url());
        }
        deployment
            .urls
            .insert("scim-gateway", format!("http://127.0.0.1:{}", proxy.port()));
        Some(Cluster {
            setup,
            replicas,
            proxy,
            deployment,
        })
    }

    pub fn replica(&mut self, service: &str, index: usize) -> &mut Replica {
        self.replicas
            .iter_mut()
            .find(|r| r.service == service && r.index == index)
            .unwrap_or_else(|| panic!("no replica {service}-{index}"))
    }

    /// The last lines of every replica's log.
    pub fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| {
                let output = r.output();
                let tail: Vec<&str> = output.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} ---\n{}", r.name(), tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            replica.kill();
        }
    }
}
