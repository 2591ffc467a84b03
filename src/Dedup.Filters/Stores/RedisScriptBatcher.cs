using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>
/// Group commit for one transition (issue 12): while a call of the script is on its way to Redis, further calls of it
/// wait, and when that call answers they go out together as one call of <see cref="RedisScript.ForManyKeys"/>, which runs
/// the unchanged script once per key. A call that finds nothing on its way goes out at once, alone, so an idle worker
/// pays no latency for this; a busy one sends one script call, one write and one read per batch instead of per message.
/// </summary>
/// <remarks>
/// <para>
/// What each key gets is what the script alone would have given it, in the same order: a batch is one atomic script
/// call, and each key's transition runs under <c>pcall</c>, so a key whose command fails (OOM for a new claim, WRONGTYPE
/// from a foreign value) fails alone and the keys around it stand. A call that fails as a whole (the connection, a
/// timeout) fails every key in it, as it would have failed each of them.
/// </para>
/// <para>
/// A queue never waits long behind a slow call: 64 waiting calls go out at once whatever is on its way, and when a call
/// times out or finds Redis unreachable, the calls that waited behind it fail with it, unsent, so a hung server fails
/// each message closed within about one timeout, as it would alone (red team 6).
/// </para>
/// <para>
/// Only on a server without hash slots: in a cluster (and through a proxy) each key lives in its own slot, so every call
/// goes out alone, as before. A batch that a server refuses for its slots (the client learnt of a cluster after the
/// batch was formed) is sent again key by key, each key with its own reply or failure.
/// </para>
/// </remarks>
internal sealed class RedisScriptBatcher
{
    readonly RedisScript _single;
    readonly RedisScript _many;
    readonly int _valuesPerKey;
    readonly int _maxKeys;
    readonly int _maxInFlight;
    readonly bool _batchAlone;
    readonly IConnectionMultiplexer _connection;
    readonly Func<RedisScript, RedisKey[], RedisValue[], Task<RedisResult>> _evaluate;
    readonly Lock _lock = new();
    readonly Queue<Waiting> _waiting = new();
    int _inFlight;

    /// <param name="script">The one-key script.</param>
    /// <param name="valuesPerKey">How many values (ARGV) the script takes for its key.</param>
    /// <param name="connection">Asked for each key's hash slot: batching only where there are none.</param>
    /// <param name="evaluate">Sends a script (and its text again on NOSCRIPT); failures surface as thrown.</param>
    /// <param name="batching">The most keys in one call (above 1), and how many calls may be on their way before calls wait.</param>
    public RedisScriptBatcher(RedisScript script, int valuesPerKey, IConnectionMultiplexer connection,
        Func<RedisScript, RedisKey[], RedisValue[], Task<RedisResult>> evaluate, RedisBatching batching)
    {
        _single = script;
        _many = script.ForManyKeys(valuesPerKey);
        _valuesPerKey = valuesPerKey;
        _connection = connection;
        _evaluate = evaluate;
        _maxKeys = batching.MaxKeys;
        _maxInFlight = Math.Max(1, batching.MaxInFlight);
        _batchAlone = batching.EvenAlone;
    }

    /// <summary>Runs the script for <paramref name="key"/>, alone or with other keys; its reply is this key's own.</summary>
    public Task<RedisResult> EvaluateAsync(RedisKey key, RedisValue[] values)
    {
        if (_connection.HashSlot(key) != -1)
            return _evaluate(_single, [key], values);

        Waiting? waiting = null;
        Waiting[]? batch = null;
        lock (_lock)
        {
            if (_inFlight < _maxInFlight && _waiting.Count == 0 && !_batchAlone)
            {
                _inFlight++;
            }
            else
            {
                waiting = new Waiting(key, values);
                _waiting.Enqueue(waiting);

                // A full batch does not wait for the call on its way: behind a slow or hung call, a long queue would
                // otherwise go out 64 keys per answer (red team 6).
                if (_inFlight < _maxInFlight || _waiting.Count >= _maxKeys)
                {
                    _inFlight++;
                    batch = TakeBatch();
                }
            }
        }

        if (waiting is null)
            return SendAloneAsync(key, values);
        if (batch is not null)
            _ = SendBatchAsync(batch);
        return waiting.Task;
    }

    async Task<RedisResult> SendAloneAsync(RedisKey key, RedisValue[] values)
    {
        Exception? failure = null;
        try
        {
            return await _evaluate(_single, [key], values).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            failure = exception;
            throw;
        }
        finally
        {
            SendNext(failure);
        }
    }

    /// <summary>
    /// A call answered: the calls that waited meanwhile go out together, or the slot is given back. When the call found
    /// Redis unreachable or did not answer in time, the calls that waited behind it fail with it, unsent (red team 6):
    /// each would otherwise wait for its own batch's timeout after this one's, and a hung server would hold a long queue
    /// for many timeouts. They fail closed, as they would have failed alone.
    /// </summary>
    void SendNext(Exception? failure)
    {
        Waiting[] batch;
        Waiting[]? stranded = null;
        lock (_lock)
        {
            if (failure is RedisTimeoutException or RedisConnectionException or ObjectDisposedException && _waiting.Count > 0)
            {
                stranded = _waiting.ToArray();
                _waiting.Clear();
            }

            if (_waiting.Count == 0)
            {
                _inFlight--;
                batch = [];
            }
            else
            {
                batch = TakeBatch();
            }
        }

        if (batch.Length > 0)
            _ = SendBatchAsync(batch);
        foreach (var waiting in stranded ?? [])
            waiting.TrySetException(failure!);
    }

    Waiting[] TakeBatch()
    {
        var batch = new Waiting[Math.Min(_waiting.Count, _maxKeys)];
        for (var i = 0; i < batch.Length; i++)
            batch[i] = _waiting.Dequeue();
        return batch;
    }

    async Task SendBatchAsync(Waiting[] batch)
    {
        RedisResult[]? replies = null;
        Exception? failure = null;
        try
        {
            replies = batch.Length == 1 && !_batchAlone
                ? [await _evaluate(_single, [batch[0].Key], batch[0].Values).ConfigureAwait(false)]
                : await SendManyAsync(batch).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsRefusedForSlots(exception))
        {
            // The client learnt of a cluster after this batch was formed: each key alone, to its own slot, and each
            // key's failure its own (red team 6).
            SendNext(null);
            await Task.WhenAll(batch.Select(SendAloneUncountedAsync)).ConfigureAwait(false);
            return;
        }
        catch (Exception exception)
        {
            failure = exception;
        }

        // The next batch goes out before this one's callers run on.
        SendNext(failure);
        for (var i = 0; i < batch.Length; i++)
        {
            if (failure is not null)
                batch[i].TrySetException(failure);
            else if (replies![i].Resp2Type == ResultType.BulkString)
                batch[i].TrySetException(new RedisServerException(RedisErrorKind.Unknown, CommandFlags.CommandRetryNever, replies[i].ToString()));
            else
                batch[i].TrySetResult(replies[i]);
        }
    }

    async Task SendAloneUncountedAsync(Waiting waiting)
    {
        try
        {
            waiting.TrySetResult(await _evaluate(_single, [waiting.Key], waiting.Values).ConfigureAwait(false));
        }
        catch (Exception exception)
        {
            waiting.TrySetException(exception);
        }
    }

    async Task<RedisResult[]> SendManyAsync(Waiting[] batch)
    {
        var keys = new RedisKey[batch.Length];
        var values = new RedisValue[batch.Length * _valuesPerKey];
        for (var i = 0; i < batch.Length; i++)
        {
            keys[i] = batch[i].Key;
            batch[i].Values.CopyTo(values, i * _valuesPerKey);
        }

        // A key's error comes back as a string (see ForManyKeys).
        var replies = (RedisResult[])(await _evaluate(_many, keys, values).ConfigureAwait(false))!;
        if (replies.Length != batch.Length)
            throw new InvalidOperationException($"The dedup {_single.Operation} of {batch.Length} keys answered {replies.Length} replies.");
        return replies;
    }

    static bool IsRefusedForSlots(Exception exception) =>
        exception.Message.Contains("CROSSSLOT", StringComparison.Ordinal) ||
        exception.Message.Contains("slot", StringComparison.OrdinalIgnoreCase) && exception is RedisCommandException;

    sealed class Waiting(RedisKey key, RedisValue[] values) : TaskCompletionSource<RedisResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public RedisKey Key { get; } = key;

        public RedisValue[] Values { get; } = values;
    }
}
