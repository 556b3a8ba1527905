//! The Lua scripts behind one-field reads and writes: each is one command, atomic, on one
//! key (so one Redis Cluster slot).
//!
//! They are sent whole (`EVAL`): Redis keeps the compiled script by its text, so there is
//! no `NOSCRIPT` round trip to handle on any node of a cluster, at the cost of the script's
//! few hundred bytes per call.

use redis::Value;

use crate::error::{Error, Result};
use crate::marshal::Commands;

/// A server-side script.
pub(crate) struct Script(&'static str);

impl Script {
    /// Queues `EVAL <source> 1 key`; the caller appends the arguments.
    pub(crate) fn queue(&self, cmds: &mut Commands<'_>, key: &str) {
        cmds.cmd("EVAL").arg(self.0).arg("1").arg(key);
    }
}

/// `ARGV[1]` = path, `ARGV[2]` = size limit. Returns `@label`, `@fp`, `@schema` and every
/// field named `path` or `path.…`, as a flat field/value array (empty if the key does not
/// exist); refuses (`REEMTOOLARGE size`) if their values add up to more than the limit.
pub(crate) static GET_FIELD: Script = Script(
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

/// `ARGV[1]` = label (empty: not checked), `ARGV[2]` = fingerprint, `ARGV[3]` = path, then
/// field/value pairs. Refuses unless the message exists (`REEMNOTFOUND`) with that label and
/// fingerprint (`REEMSCHEMA <stored>`). With a path, deletes every field named `path` or
/// `path.…` first (the field is replaced whole); without one, every field set must already
/// be stored (`REEMABSENT <field>`). Then sets the pairs; nothing is written on a refusal.
pub(crate) static SET_FIELDS: Script = Script(
    r#"
local h = redis.call('HMGET', KEYS[1], '@label', '@fp')
if not h[1] and not h[2] and redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('REEMNOTFOUND no message at this key')
end
if (ARGV[1] ~= '' and h[1] ~= ARGV[1]) or h[2] ~= ARGV[2] then
  return redis.error_reply('REEMSCHEMA ' .. tostring(h[1] or '<no label>') .. ' (schema ' .. tostring(h[2] or '<none>') .. ')')
end
local p = ARGV[3]
if p ~= '' then
  local pd = p .. '.'
  for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
    if k == p or string.sub(k, 1, #pd) == pd then redis.call('HDEL', KEYS[1], k) end
  end
else
  for i = 4, #ARGV, 2 do
    if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
      return redis.error_reply('REEMABSENT ' .. ARGV[i])
    end
  end
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"#,
);

/// Maps the outcome of a [`SET_FIELDS`] transaction; `expected` describes the schema the
/// caller checked for.
pub(crate) fn set_fields_outcome(
    key: &str,
    replies: Vec<Value>,
    expected: impl FnOnce() -> String,
) -> Result<()> {
    let Some(Value::ServerError(e)) = replies.into_iter().next() else {
        return Ok(());
    };
    let detail = e.details().unwrap_or("").to_owned();
    Err(match e.code() {
        "REEMNOTFOUND" => Error::NotFound {
            key: key.to_owned(),
        },
        "REEMSCHEMA" => Error::SchemaMismatch {
            key: key.to_owned(),
            stored: detail,
            expected: expected(),
            reason: "the stored message must have exactly this schema to be changed field by \
                     field (it may have changed meanwhile)"
                .to_owned(),
        },
        "REEMABSENT" => Error::MissingField {
            key: key.to_owned(),
            field: detail,
        },
        _ => Error::from_server_error(key, &e),
    })
}

/// Maps the `REEMTOOLARGE size` refusal of [`GET_FIELD`] to [`Error::TooLarge`].
pub(crate) fn too_large(e: Error, limit: u64) -> Error {
    match e {
        Error::Refused { key, code, message } if code == "REEMTOOLARGE" => Error::TooLarge {
            key,
            size: message.trim().parse().unwrap_or(0),
            limit,
        },
        other => other,
    }
}
