using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit.Serialization;

namespace Dedup.Pipeline;

/// <summary>
/// The result record the filter stores at completion: the replies the consumer sent with <c>RespondAsync</c>,
/// serialised with MassTransit's own JSON options (which handle interface message types). A message that sent no
/// reply stores an empty record (nothing in Redis beyond the claim's fields).
/// </summary>
internal sealed class ResultRecord
{
    public static readonly ResultRecord Empty = new();

    [JsonPropertyName("r")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public List<StoredReply> Replies { get; init; } = [];

    /// <summary>The exceptions of a terminal fault (with <see cref="DedupOptions.RecordFaults"/>), for a <c>Fault&lt;T&gt;</c> replay.</summary>
    [JsonPropertyName("f")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<StoredException>? Fault { get; init; }

    /// <summary>The replies were larger than <see cref="DedupOptions.MaxReplyBytes"/>: not stored, not replayed.</summary>
    [JsonPropertyName("big")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TooLarge { get; init; }

    /// <summary>The size of the replies that did not fit, for the warning.</summary>
    [JsonPropertyName("n")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Size { get; init; }

    /// <summary>The work was not run by this record's owner: a takeover check found the previous owner's work applied.</summary>
    [JsonPropertyName("rec")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Recovered { get; init; }

    public static byte[] Encode(IReadOnlyList<(object Message, Type Type)> replies, int maxBytes, bool recovered = false)
    {
        if (replies.Count == 0 && !recovered)
            return [];

        var record = new ResultRecord
        {
            Replies = [.. replies.Select(r => new StoredReply(TypeName(r.Type), JsonSerializer.SerializeToElement(r.Message, r.Type, SystemTextJsonMessageSerializer.Options)))],
            Recovered = recovered,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record);
        return bytes.Length <= maxBytes ? bytes : JsonSerializer.SerializeToUtf8Bytes(new ResultRecord { TooLarge = true, Size = bytes.Length, Recovered = recovered });
    }

    public static ResultRecord Decode(ReadOnlyMemory<byte> bytes) =>
        bytes.IsEmpty ? Empty : JsonSerializer.Deserialize<ResultRecord>(bytes.Span) ?? Empty;

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

    public static byte[] EncodeFault(Exception exception)
    {
        var exceptions = new List<StoredException>();
        for (var current = exception; current is not null && exceptions.Count < 8; current = current.InnerException)
            exceptions.Add(new StoredException(TypeName(current.GetType()), current.Message, current.StackTrace, current.Source));
        return JsonSerializer.SerializeToUtf8Bytes(new ResultRecord { Fault = exceptions });
    }

    static string TypeName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    internal sealed record StoredReply([property: JsonPropertyName("t")] string Type, [property: JsonPropertyName("b")] JsonElement Body);

    internal sealed record StoredException(
        [property: JsonPropertyName("t")] string ExceptionType,
        [property: JsonPropertyName("m")] string Message,
        [property: JsonPropertyName("s")] string? StackTrace,
        [property: JsonPropertyName("o")] string? Source)
    {
        /// <summary>As MassTransit's <see cref="MassTransit.ExceptionInfo"/>, with its own property names on the wire.</summary>
        public MassTransit.ExceptionInfo ToExceptionInfo() => new ReplayedException
        {
            ExceptionType = ExceptionType,
            Message = Message,
            StackTrace = StackTrace ?? string.Empty,
            Source = Source ?? string.Empty,
        };
    }

    sealed class ReplayedException : MassTransit.ExceptionInfo
    {
        public required string ExceptionType { get; init; }

        public MassTransit.ExceptionInfo? InnerException => null;

        public required string StackTrace { get; init; }

        public required string Message { get; init; }

        public required string Source { get; init; }

        public IDictionary<string, object>? Data => null;
    }
}
