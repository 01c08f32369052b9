"""Storage: schema, migrations and the repository; SQLite (aiosqlite) and PostgreSQL (asyncpg)."""
