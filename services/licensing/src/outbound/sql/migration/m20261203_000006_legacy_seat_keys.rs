//! No userName in the ledger: seats confirmed before sealing were kept
//! under the key their reservation had, `user:<lowercased userName>`. They
//! are rewritten to `held:<scim user id>`, the key a schema_version 1
//! `user.provisioned` keeps its seat under now (so a rebuild of such a
//! journal keeps the same seats). Reservations under such a key are left to
//! expire (`seats.hold_for_secs`); a plain event still in a queue may take
//! one, and keeps its seat under `held:` too.

use sea_orm_migration::prelude::*;

use crate::outbound::sql::tables::Seats;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let rewrite = Query::update()
            .table(Seats::Table)
            .value(Seats::SeatKey, Expr::cust("'held:' || holder"))
            .and_where(Expr::col(Seats::Status).eq("confirmed"))
            .and_where(Expr::col(Seats::Holder).is_not_null())
            .and_where(Expr::col(Seats::SeatKey).like("user:%"))
            .and_where(Expr::col(Seats::SeatKey).not_like("user:h:%"))
            .to_owned();
        manager.exec_stmt(rewrite).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The userNames are gone on purpose.
        Ok(())
    }
}
