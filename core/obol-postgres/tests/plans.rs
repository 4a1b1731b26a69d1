//! Cached plans outlive the table sizes they were made for: PostgreSQL keeps a statement's
//! generic plan until the table is next analyzed, so a lookup planned on a table of a few
//! rows (a sequential scan is cheapest there) would go on scanning it whole after it grew,
//! for as long as a new deployment's tables grow faster than autovacuum analyzes them. The
//! store's connections plan lookups as index scans from the first row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[tokio::test]
async fn a_lookup_planned_on_a_tiny_table_still_uses_the_index_after_it_grows() {
    let store = common::store_in(&common::fresh_schema()).await;
    let mut conn = store.pool().acquire().await.unwrap();
    // Autovacuum would analyze the grown table (and so replan) only when it comes round:
    // the test stands for the time before it does.
    for sql in [
        "ALTER TABLE idempotency_keys SET (autovacuum_enabled = false)",
        "INSERT INTO idempotency_keys (key, request_hash, lease_until) \
         SELECT 'small-' || g, 'h', 0 FROM generate_series(1, 20) g",
        "ANALYZE idempotency_keys",
        "PREPARE lookup(text) AS SELECT response FROM idempotency_keys WHERE key = $1",
        "PREPARE lookup_many(text[]) AS \
         SELECT key FROM idempotency_keys WHERE key = ANY($1) ORDER BY key FOR UPDATE",
    ] {
        sqlx::raw_sql(sql).execute(&mut *conn).await.unwrap();
    }
    // Past the five custom plans after which PostgreSQL may settle on the generic one.
    for _ in 0..8 {
        sqlx::raw_sql(
            "EXECUTE lookup('small-1'); \
             BEGIN; EXECUTE lookup_many('{small-1,small-2}'); COMMIT",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    sqlx::raw_sql(
        "INSERT INTO idempotency_keys (key, request_hash, lease_until) \
         SELECT 'grown-' || g, 'h', 0 FROM generate_series(1, 50000) g",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    for (statement, arguments) in [
        ("lookup", "'grown-7'"),
        ("lookup_many", "'{grown-7,grown-8,grown-9}'"),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, TIMING OFF) EXECUTE {statement}({arguments})"
        )))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index") && !plan.contains("Seq Scan"),
            "{statement} scans the grown table:\n{plan}"
        );
    }
    let generic: i64 = sqlx::query_scalar(
        "SELECT sum(generic_plans)::int8 FROM pg_prepared_statements \
         WHERE name IN ('lookup', 'lookup_many')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert!(
        generic > 0,
        "the test meant to exercise cached generic plans"
    );
    sqlx::raw_sql("DEALLOCATE lookup; DEALLOCATE lookup_many")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_statement_that_must_scan_a_table_is_not_compiled() {
    let store = common::store_in(&common::fresh_schema()).await;
    // Events joined with endpoints by merchant, which no index serves: a sequential scan the
    // planner is told to avoid, so its cost passes the JIT threshold.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (ANALYZE, TIMING OFF) \
         SELECT e.seq, w.id FROM payment_events e \
         JOIN webhook_endpoints w ON w.merchant = e.merchant AND w.mode = e.mode \
         WHERE e.seq = ANY('{1,2,3}') AND w.enabled",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Seq Scan"), "{plan}");
    assert!(!plan.contains("JIT"), "compiled:\n{plan}");
}
