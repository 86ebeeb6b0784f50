// placeholder until the MongoDB backend lands
pub struct MongoStore;
impl MongoStore {
    pub async fn connect(
        _url: &str,
        _db: &str,
    ) -> anyhow::Result<std::sync::Arc<crate::store::sqlite::SqliteStore>> {
        anyhow::bail!("MongoDB backend not built yet")
    }
}
