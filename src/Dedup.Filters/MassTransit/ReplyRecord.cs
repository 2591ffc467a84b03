using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit.Serialization;

namespace Dedup.MassTransit;

/// <summary>
/// The result record the filter stores at completion: the replies the consumer sent with <c>RespondAsync</c>,
/// serialised with MassTransit's own JSON options (which handle interface message types). A message that sent no
/// reply stores an empty record (nothing in Redis beyond the claim's fields).
/// </summary>
internal sealed class ReplyRecord
{
    public static readonly ReplyRecord Empty = new();

    [JsonPropertyName("r")]
    public List<StoredReply> Replies { get; init; } = [];

    /// <summary>The replies were larger than <see cref="DedupOptions.MaxReplyBytes"/>: not stored, not replayed.</summary>
    [JsonPropertyName("big")]
    public bool TooLarge { get; init; }

    /// <summary>The size of the replies that did not fit, for the warning.</summary>
    [JsonPropertyName("n")]
    public int Size { get; init; }

    public static byte[] Encode(IReadOnlyList<(object Message, Type Type)> replies, int maxBytes)
    {
        if (replies.Count == 0)
            return [];

        var record = new ReplyRecord
        {
            Replies = [.. replies.Select(r => new StoredReply(TypeName(r.Type), JsonSerializer.SerializeToElement(r.Message, r.Type, SystemTextJsonMessageSerializer.Options)))],
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record);
        return bytes.Length <= maxBytes ? bytes : JsonSerializer.SerializeToUtf8Bytes(new ReplyRecord { TooLarge = true, Size = bytes.Length });
    }

    public static ReplyRecord Decode(ReadOnlyMemory<byte> bytes) =>
        bytes.IsEmpty ? Empty : JsonSerializer.Deserialize<ReplyRecord>(bytes.Span) ?? Empty;

    /// <summary>The stored replies as messages again.</summary>
    /// <exception cref="InvalidOperationException">A stored reply type no longer loads.</exception>
    public IEnumerable<(object Message, Type Type)> Messages()
    {
        foreach (var reply in Replies)
        {
            var type = Type.GetType(reply.Type, throwOnError: false)
                       ?? throw new InvalidOperationException($"The stored reply type '{reply.Type}' cannot be loaded, so the reply cannot be replayed. Was the type renamed or its assembly removed?");
            yield return (reply.Body.Deserialize(type, SystemTextJsonMessageSerializer.Options)!, type);
        }
    }

    static string TypeName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    internal sealed record StoredReply([property: JsonPropertyName("t")] string Type, [property: JsonPropertyName("b")] JsonElement Body);
}
