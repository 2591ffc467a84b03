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
}
