using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Dedup.Worker.Ledger;

/// <summary>
/// The ledger's key schema: every key of one payment or quote carries the same Redis Cluster hash tag, the id in braces,
/// so each script touches one slot (issue 11), and nothing is a single key every write grows.
/// <list type="table">
/// <item><term><c>&lt;prefix&gt;{&lt;id&gt;}:payment</c></term><description>string: the payment's executions</description></item>
/// <item><term><c>&lt;prefix&gt;{&lt;id&gt;}:entries</c></term><description>list: its newest JSON entries</description></item>
/// <item><term><c>&lt;prefix&gt;{&lt;id&gt;}:quote</c></term><description>string: the quote's executions</description></item>
/// <item><term><c>&lt;prefix&gt;{&lt;id&gt;}:fence:&lt;dedup key&gt;</c></term><description>hash <c>seen</c>, <c>applied</c>, <c>reply</c>: the fence of one dedup key</description></item>
/// </list>
/// </summary>
internal sealed class LedgerKeys(string prefix)
{
    const string HashedTag = "#";

    public RedisKey Payment(string id) => Key(id, ":payment");

    public RedisKey Entries(string id) => Key(id, ":entries");

    public RedisKey Quote(string id) => Key(id, ":quote");

    public RedisKey Fence(string id, string dedupKey) => Key(id, ":fence:" + dedupKey);

    /// <summary>
    /// The hash tag of an id: the id itself, readable in <c>redis-cli</c>; an id with a brace (which would end or empty
    /// the tag, and so scatter one id's keys over slots) is replaced by its SHA-256.
    /// </summary>
    public static string Tag(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        // An id that could be mistaken for a hashed tag (it starts with the marker) is hashed too, so no raw id ever
        // spells another id's hashed tag.
        if (id.AsSpan().IndexOfAny('{', '}') < 0 && !id.StartsWith(HashedTag, StringComparison.Ordinal))
            return id;
        return HashedTag + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..32];
    }

    RedisKey Key(string id, string suffix) => string.Concat(prefix, "{", Tag(id), "}", suffix);
}
