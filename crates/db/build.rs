//! Fingerprints `migrations/` so that a test template database is rebuilt whenever a migration
//! changes, and so that the embedded migrations are re-read when their SQL changes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::{env, fs, io};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?)
        .join("../../migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut all = Vec::new();
    files(&root, &mut all)?;
    all.sort();
    let mut hasher = DefaultHasher::new();
    for path in &all {
        println!("cargo:rerun-if-changed={}", path.display());
        path.strip_prefix(&root).unwrap_or(path).hash(&mut hasher);
        fs::read(path)?.hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=TEKUP_MIGRATIONS_HASH={:016x}",
        hasher.finish()
    );
    // Every migration's up.sql, for `tekup migrate --dry-run`: (schema, name, SQL).
    let mut table = String::from("pub const UP_SQL: &[(&str, &str, &str)] = &[\n");
    for path in all
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "up.sql"))
    {
        let relative = path.strip_prefix(&root).unwrap_or(path);
        let mut parts = relative.iter().filter_map(|p| p.to_str());
        let (Some(schema), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        table.push_str(&format!(
            "    ({schema:?}, {name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("up_sql.rs"), table)?;
    Ok(())
}
