"""The synthesis store's tables, one migration per schema version (applied in order)."""

SCHEMA_VERSION = 2

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE queries (
        key TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        framework_hash TEXT NOT NULL,
        seed INTEGER,
        slot INTEGER,
        record TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX queries_by_framework ON queries (framework_hash, seed, slot);
    CREATE TABLE rejected_queries (
        framework_hash TEXT NOT NULL,
        seed INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        reason TEXT NOT NULL,
        text TEXT,
        PRIMARY KEY (framework_hash, seed, slot, attempt)
    );
    CREATE TABLE path_counts (
        framework_hash TEXT NOT NULL,
        path TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (framework_hash, path)
    );
    CREATE TABLE grown_types (
        framework_hash TEXT NOT NULL,
        node_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (framework_hash, node_id)
    );
    CREATE TABLE planned_rollouts (
        key TEXT PRIMARY KEY,
        query_key TEXT NOT NULL,
        sample INTEGER NOT NULL
    );
    CREATE TABLE rollouts (
        key TEXT PRIMARY KEY,
        query_key TEXT NOT NULL,
        sample INTEGER NOT NULL,
        status TEXT NOT NULL,
        run_id TEXT,
        record TEXT NOT NULL,
        finished_at REAL NOT NULL
    );
    CREATE INDEX rollouts_by_query ON rollouts (query_key, sample);
    CREATE INDEX rollouts_by_run ON rollouts (run_id);
    CREATE TABLE verdicts (
        rollout_key TEXT NOT NULL,
        stage TEXT NOT NULL,
        turn INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (rollout_key, stage, turn)
    );
    """,
    # Where each framework lives, so `verify` can replay on a fresh environment copy from
    # the store alone (the folder's hash is checked again before it is used).
    2: """
    CREATE TABLE frameworks (
        hash TEXT PRIMARY KEY,
        name TEXT,
        path TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
}
