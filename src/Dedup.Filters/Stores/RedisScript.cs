using System.Security.Cryptography;
using System.Text;

namespace Dedup.Stores;

/// <summary>
/// One of <see cref="RedisScripts"/> with its SHA-1, computed once: the store sends <c>EVALSHA</c> with the hash and
/// sends the text only when the server answers <c>NOSCRIPT</c> (issue 12).
/// </summary>
/// <remarks>
/// StackExchange.Redis's <c>ScriptEvaluateAsync(string)</c> looks the text up in a per-server table on every call,
/// which hashes the whole text (0.7 ns a character: 1.8 us for the claim script), and wraps the call in an async
/// method of its own; the hash overload does neither (<c>ScriptSendBenchmarks</c>). Redis names a script by the SHA-1
/// of its text (<see href="https://redis.io/docs/latest/commands/evalsha/">EVALSHA</see>): not a security use.
/// </remarks>
internal sealed class RedisScript
{
    public RedisScript(string operation, string text)
    {
        Operation = operation;
        Text = text;
#pragma warning disable CA5350 // SHA-1 is how Redis names a script, not a protection.
        Hash = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
    }

    /// <summary>The transition's name in metrics and errors: claim, renew, complete, ...</summary>
    public string Operation { get; }

    public string Text { get; }

    /// <summary>The 20 bytes of the text's SHA-1, as EVALSHA takes them.</summary>
    public byte[] Hash { get; }

    /// <summary>
    /// This script for many keys in one call (<see cref="RedisScriptBatcher"/>): KEYS are the keys, ARGV holds
    /// <paramref name="valuesPerKey"/> values for each key in turn, and the reply has one element per key, which is the
    /// reply this script gives that key alone, or the error it raised as a bulk string. Only for scripts that never reply
    /// a bare string (claim and complete reply a number or a table): a string element is then always an error.
    /// </summary>
    /// <remarks>
    /// The text runs unchanged inside a function whose parameters are named <c>KEYS</c> and <c>ARGV</c>, so each key sees
    /// exactly the script it would see alone (the two tables are refilled for each key rather than made anew: the scripts
    /// only read them); the flags line stays the first line. Each key runs under <c>pcall</c>:
    /// Redis runs a script's commands without rolling any back, so a key whose command fails must fail alone, with its
    /// error, while the keys before it keep what they wrote and the keys after it still run. Redis 7.0 hands
    /// <c>pcall</c> a command's error as its text (OOM, WRONGTYPE, ...), later versions as a table with an <c>err</c>
    /// field; an error of the script itself starts "user_script:" and is reported with "ERR " in front, as Redis reports
    /// it for a script called alone. The error goes back as a string, not as an error reply inside the array:
    /// StackExchange.Redis refuses a whole array that holds one ("Unexpected response to EVAL") and fails every key in it.
    /// </remarks>
    public RedisScript ForManyKeys(int valuesPerKey)
    {
        var body = Text;
        var flags = "";
        if (body.StartsWith("#!", StringComparison.Ordinal))
        {
            var end = body.IndexOf('\n', StringComparison.Ordinal);
            flags = body[..(end + 1)];
            body = body[(end + 1)..];
        }

        var text = $$"""
            {{flags}}local function one(KEYS, ARGV)
            {{body}}
            end
            local out, n, key, args = {}, {{valuesPerKey}}, {}, {}
            for i = 1, #KEYS do
              key[1] = KEYS[i]
              for j = 1, n do args[j] = ARGV[(i - 1) * n + j] end
              local ok, reply = pcall(one, key, args)
              if ok then
                out[i] = reply
              else
                local message = type(reply) == 'table' and tostring(reply.err) or tostring(reply)
                if string.sub(message, 1, 12) == 'user_script:' then message = 'ERR ' .. message end
                out[i] = message
              end
            end
            return out
            """;
        return new RedisScript(Operation, text);
    }
}
