use std::net::TcpListener;

use actix_web::{App, HttpServer};
use anyhow::Context;
use messaging::relay;
use messaging_inprocess::RetryPolicy;
use scim_embedded::{EmbeddedSettings, Platform, SeatsVia, admin_key, admin_key_file};
use scim_gateway::startup::{bootstrap, spawn_relay_to};
use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = EmbeddedSettings::load()?;
    let gateway = &settings.gateway;
    let _telemetry = telemetry::init("scim-embedded", &gateway.log.filter, &gateway.log.format);

    let (key, created) = admin_key(&settings)?;
    let platform = Platform::build(&settings, &key, SeatsVia::InProcess).await?;
    platform
        .licensing
        .spawn_sweeper(std::time::Duration::from_secs(30));
    spawn_relay_to(
        &platform.gateway_store,
        platform.bus(RetryPolicy::default()),
        gateway,
    );
    actix_web::rt::spawn(relay::run(
        platform.licensing_relay(RetryPolicy::default()),
        relay::Pacing {
            idle_poll: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(30),
        },
        relay::Wakeup::default(),
    ));

    let listener = TcpListener::bind((gateway.http.host.as_str(), gateway.http.port))
        .with_context(|| format!("binding {}:{}", gateway.http.host, gateway.http.port))?;
    let port = listener.local_addr()?.port();
    let demo = bootstrap(&platform.gateway_store, gateway, port).await?;

    let configure = platform.configure();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                scim_gateway::inbound::http::request_span,
            ))
            .configure(configure.clone())
    })
    .listen(listener)?;
    if let Some(workers) = gateway.http.workers {
        server = server.workers(workers);
    }

    if let Some(demo) = &demo {
        println!("SCIM base URL : {}", demo.scim_base_url);
        println!("Bearer token  : {}", demo.token);
        println!("Organization  : {}", demo.org_id);
    }
    if created {
        println!("Admin key     : {key}");
        println!(
            "                (kept in {}; set SCIM_ADMIN_KEY to choose your own)",
            admin_key_file(&gateway.bootstrap.data_dir).display()
        );
    }
    tracing::info!(port, "embedded process listening (SCIM and admin APIs)");
    server.run().await?;
    Ok(())
}
