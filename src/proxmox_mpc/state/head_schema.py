"""The SQLite schema the migrations make, as SQL: what a sync creates a new state database with.

A first `pmpc sync` into a new SQLite file creates it through sqlite3 with these statements
(state/lite.py, `create_lite`) instead of running every migration through alembic and SQLAlchemy, which
it then needs neither of (a third of a second and 30 MB). They are the statements SQLite keeps of the
schema the migrations leave at revision HEAD (`sqlite_master`, in the order they were made), laid out
here one column a line; a test makes a database through the migrations and checks that they are the
same, and prints them anew when a migration changes them. PostgreSQL, and every database to migrate,
go through alembic.
"""

from __future__ import annotations

STATEMENTS = (
    """
    CREATE TABLE pmpc_alembic_version (
        version_num VARCHAR(32) NOT NULL,
        CONSTRAINT pmpc_alembic_version_pkc PRIMARY KEY (version_num)
    )
    """,
    """
    CREATE TABLE pmpc_clusters (
        id INTEGER NOT NULL,
        "key" VARCHAR NOT NULL,
        name VARCHAR,
        context VARCHAR,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        UNIQUE ("key")
    )
    """,
    """
    CREATE TABLE pmpc_locks (
        name VARCHAR NOT NULL,
        holder VARCHAR NOT NULL,
        pid INTEGER NOT NULL,
        host VARCHAR NOT NULL,
        token VARCHAR NOT NULL,
        since DATETIME NOT NULL,
        PRIMARY KEY (name)
    )
    """,
    """
    CREATE TABLE pmpc_apply_runs (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        workspace VARCHAR,
        plan_digest VARCHAR,
        started_at DATETIME NOT NULL,
        finished_at DATETIME,
        status VARCHAR NOT NULL, operation VARCHAR, pid INTEGER, host VARCHAR, process_start VARCHAR,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id)
    )
    """,
    "CREATE INDEX ix_pmpc_apply_runs_cluster_id ON pmpc_apply_runs (cluster_id)",
    """
    CREATE TABLE pmpc_guests (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        vmid INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        node VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        tags VARCHAR NOT NULL,
        pool VARCHAR,
        template BOOLEAN NOT NULL,
        lock VARCHAR,
        cpus FLOAT NOT NULL,
        memory BIGINT NOT NULL,
        disk_size BIGINT NOT NULL,
        config JSON NOT NULL,
        digest VARCHAR,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL,
        deleted_at DATETIME,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_guests_cluster_vmid UNIQUE (cluster_id, vmid)
    )
    """,
    "CREATE INDEX ix_pmpc_guests_cluster_name ON pmpc_guests (cluster_id, name)",
    """
    CREATE TABLE pmpc_nodes (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        cpus INTEGER NOT NULL,
        memory_total BIGINT NOT NULL,
        disk_total BIGINT NOT NULL,
        ssl_fingerprint VARCHAR,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL,
        deleted_at DATETIME,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_nodes_cluster_name UNIQUE (cluster_id, name)
    )
    """,
    """
    CREATE TABLE pmpc_storages (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        node VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        content VARCHAR NOT NULL,
        shared BOOLEAN NOT NULL,
        enabled BOOLEAN NOT NULL,
        active BOOLEAN NOT NULL,
        total BIGINT NOT NULL,
        used BIGINT NOT NULL,
        available BIGINT NOT NULL,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL,
        deleted_at DATETIME,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_storages_cluster_node_name UNIQUE (cluster_id, node, name)
    )
    """,
    """
    CREATE TABLE pmpc_sync_runs (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        workspace VARCHAR,
        started_at DATETIME NOT NULL,
        finished_at DATETIME,
        status VARCHAR NOT NULL,
        guests INTEGER NOT NULL,
        added INTEGER NOT NULL,
        changed INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        error TEXT,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id)
    )
    """,
    "CREATE INDEX ix_pmpc_sync_runs_cluster_id ON pmpc_sync_runs (cluster_id)",
    """
    CREATE TABLE pmpc_apply_actions (
        id INTEGER NOT NULL,
        run_id INTEGER NOT NULL,
        address VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        detail TEXT,
        upid VARCHAR,
        at DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(run_id) REFERENCES pmpc_apply_runs (id)
    )
    """,
    "CREATE INDEX ix_pmpc_apply_actions_run_id ON pmpc_apply_actions (run_id)",
    """
    CREATE TABLE pmpc_changes (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        sync_run_id INTEGER NOT NULL,
        vmid INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        guest_name VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        old TEXT,
        new TEXT,
        changed_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        FOREIGN KEY(sync_run_id) REFERENCES pmpc_sync_runs (id)
    )
    """,
    "CREATE INDEX ix_pmpc_changes_cluster_vmid ON pmpc_changes (cluster_id, vmid)",
    """
    CREATE TABLE pmpc_manifest_cache (
        path TEXT NOT NULL,
        size BIGINT NOT NULL,
        mtime_ns BIGINT NOT NULL,
        format VARCHAR NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (path)
    )
    """,
    """
    CREATE TABLE pmpc_created_guests (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        vmid INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        run_id INTEGER,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_created_guests_cluster_vmid UNIQUE (cluster_id, vmid)
    )
    """,
    """
    CREATE TABLE pmpc_resources (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        address VARCHAR NOT NULL,
        data JSON NOT NULL,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL,
        deleted_at DATETIME,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_resources_cluster_kind_address UNIQUE (cluster_id, kind, address)
    )
    """,
    """
    CREATE TABLE pmpc_resource_changes (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        sync_run_id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        address VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        old TEXT,
        new TEXT,
        changed_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        FOREIGN KEY(sync_run_id) REFERENCES pmpc_sync_runs (id)
    )
    """,
    "CREATE INDEX ix_pmpc_resource_changes_cluster_address ON pmpc_resource_changes (cluster_id, address)",
    """
    CREATE TABLE pmpc_created_resources (
        id INTEGER NOT NULL,
        cluster_id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        address VARCHAR NOT NULL,
        run_id INTEGER,
        created_at DATETIME NOT NULL,
        PRIMARY KEY (id),
        FOREIGN KEY(cluster_id) REFERENCES pmpc_clusters (id),
        CONSTRAINT uq_pmpc_created_resources_cluster_address UNIQUE (cluster_id, address)
    )
    """,
)
