// `EddyRedis` re-exports its sans-IO core (RESPValue, RedisCommand, RESPLimits …), so that
// `import EddyRedis` is enough to send commands and read replies.
@_exported import EddyRedisCore
