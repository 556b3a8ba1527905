//! The Lua scripts behind one-field reads and writes: each is one command, atomic, on one
//! key (so one Redis Cluster slot).

use redis::{Connection, Pipeline, RedisResult, Value};

/// A server-side script run by `EVALSHA`, loaded on first use.
pub(crate) struct Script {
    source: &'static str,
    sha: std::sync::OnceLock<String>,
}

impl Script {
    pub(crate) const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: std::sync::OnceLock::new(),
        }
    }

    fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| redis::Script::new(self.source).get_hash().to_owned())
    }

    /// Queues `EVALSHA sha 1 key` on `pipe`; the caller appends the arguments.
    pub(crate) fn queue(&self, pipe: &mut Pipeline, key: &str) {
        pipe.cmd("EVALSHA").arg(self.sha()).arg(1).arg(key);
    }

    /// Runs a pipeline whose only command was started by [`Script::queue`], loading the
    /// script if the server does not know it yet.
    pub(crate) fn run<T: redis::FromRedisValue>(
        &self,
        con: &mut Connection,
        pipe: &Pipeline,
    ) -> RedisResult<T> {
        match pipe.query::<(T,)>(con) {
            Err(e)
                if crate::error::server_error(&e).is_some_and(|(code, _)| code == "NOSCRIPT") =>
            {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(self.source)
                    .exec(con)?;
                pipe.query::<(T,)>(con).map(|(t,)| t)
            }
            r => r.map(|(t,)| t),
        }
    }

    /// Queues and runs the script on `key` with the arguments `args` adds.
    pub(super) fn invoke_with(
        &self,
        con: &mut Connection,
        key: &str,
        args: impl FnOnce(&mut Pipeline),
    ) -> RedisResult<Value> {
        let mut pipe = redis::pipe();
        self.queue(&mut pipe, key);
        args(&mut pipe);
        self.run(con, &pipe)
    }
}

/// `ARGV[1]` = path, `ARGV[2]` = size limit. Returns `@label`, `@fp`, `@schema` and every
/// field named `path` or `path.…`, as a flat field/value array (empty if the key does not
/// exist); refuses (`REEMTOOLARGE size`) if their values add up to more than the limit.
pub(super) static GET_FIELD: Script = Script::new(
    r#"
local p = ARGV[1]
local pd = p .. '.'
local names = {'@label', '@fp', '@schema'}
local size = 0
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if k == p or string.sub(k, 1, #pd) == pd then
    names[#names + 1] = k
    size = size + redis.call('HSTRLEN', KEYS[1], k)
  end
end
if size > tonumber(ARGV[2]) then
  return redis.error_reply('REEMTOOLARGE ' .. size)
end
local out = {}
for i = 1, #names, 512 do
  local chunk = {}
  for j = i, math.min(i + 511, #names) do chunk[#chunk + 1] = names[j] end
  local vals = redis.call('HMGET', KEYS[1], unpack(chunk))
  for j = 1, #chunk do
    if vals[j] then out[#out + 1] = chunk[j]; out[#out + 1] = vals[j] end
  end
end
return out
"#,
);

/// `ARGV` = label, fingerprint, path, then field/value pairs. Refuses (`REEMSCHEMA`) unless
/// the stored message has exactly that label and fingerprint, deletes every field named
/// `path` or `path.…`, then sets the pairs.
pub(super) static SET_FIELD: Script = Script::new(
    r#"
local h = redis.call('HMGET', KEYS[1], '@label', '@fp')
if not h[1] and not h[2] and redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('REEMNOTFOUND no message at this key')
end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then
  return redis.error_reply('REEMSCHEMA ' .. tostring(h[1] or '<no label>') .. ' (schema ' .. tostring(h[2] or '<none>') .. ')')
end
local p = ARGV[3]
local pd = p .. '.'
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if k == p or string.sub(k, 1, #pd) == pd then redis.call('HDEL', KEYS[1], k) end
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"#,
);
