using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MassTransit;
using MassTransit.Serialization;

namespace Dedup.Pipeline;

/// <summary>
/// The payload fingerprint stored with a claim: SHA-256 (first 12 bytes, base64url: 96 bits, 16 characters) over the
/// scope and the message <b>as received</b>, not as the consumer's contract deserialised it (issue 9: a contract that
/// gained an optional property re-serialised the same bytes differently, and a duplicate became a conflict).
/// </summary>
/// <remarks>
/// <para>What is hashed, by content type: for a MassTransit JSON envelope (<c>application/vnd.masstransit+json</c>)
/// the envelope's <c>message</c> property, so a copy re-sent in a new envelope (new sent time, headers, MessageId of a
/// custom key) is not a conflict; for raw JSON (<c>application/json</c>) the whole body; for anything else, or JSON
/// that does not parse, the raw bytes.</para>
/// <para>JSON is canonicalised: object properties sorted (ordinal, by their unescaped UTF-8 names), insignificant
/// whitespace and comments dropped, strings compared by value (<c>"a\/b"</c> equals <c>"a/b"</c>); numbers keep their
/// JSON text (<c>10.50</c> is not <c>10.5</c>) and arrays their order, so any changed value changes the fingerprint.</para>
/// <para>The message type is not hashed: the scope already names the endpoint and the consumer, and a contract
/// renamed or moved to another namespace or assembly in a rolling deploy must not turn its copies into conflicts.</para>
/// </remarks>
internal static class MessageFingerprint
{
    const int FingerprintBytes = 12;
    const byte ScopeSeparator = (byte)'\n'; // never in a scope (base64url), so scope + payload cannot be ambiguous

    static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip, // as MassTransit's System.Text.Json deserialiser reads it
        AllowTrailingCommas = true,
        MaxDepth = 64, // deeper bodies fall back to their raw bytes; also bounds the canonicaliser's recursion
    };

    /// <summary>The fingerprint of the message a consumer received: <c>Compute(context.ReceiveContext, scope)</c>.</summary>
    public static string Compute(ReceiveContext receiveContext, string scope) =>
        Compute(receiveContext.Body.GetBytes(), receiveContext.ContentType?.MediaType, scope);

    /// <summary>The fingerprint of <paramref name="body"/> as received with <paramref name="contentType"/>.</summary>
    /// <param name="body">The transport message body.</param>
    /// <param name="contentType">The body's media type (parameters such as <c>charset</c> are ignored); null for unknown.</param>
    /// <param name="scope">The claim's scope (endpoint + consumer, <see cref="Protocol.DedupKey.Scope"/>).</param>
    public static string Compute(ReadOnlySpan<byte> body, string? contentType, string scope)
    {
        var format = FormatOf(contentType);
        if (format != BodyFormat.Bytes)
        {
            var canonical = new CanonicalJson(scope.Length + 1 + body.Length);
            try
            {
                canonical.AppendScope(scope);
                if (canonical.TryAppendPayload(body, format == BodyFormat.Envelope))
                    return Encode(canonical.Written);
            }
            finally
            {
                canonical.Dispose();
            }
        }

        return ComputeOverRawBytes(body, scope);
    }

    /// <summary>
    /// The fingerprint before issue 9: the message re-serialised with the consumer's contract, with its type name. Kept
    /// while <c>ClaimLifecycle</c> still calls it, and for one retention window after it moves to
    /// <see cref="Compute(ReceiveContext, string)"/>: records written before that upgrade hold this fingerprint, and a
    /// duplicate of one of them must be recognised rather than become a conflict.
    /// </summary>
    public static string Compute(object message, string messageName, string scope)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), SystemTextJsonMessageSerializer.Options);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(messageName));
        hash.AppendData(Encoding.UTF8.GetBytes(scope));
        hash.AppendData(body);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return Base64Url.EncodeToString(digest[..FingerprintBytes]);
    }

    static string ComputeOverRawBytes(ReadOnlySpan<byte> body, string scope)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> scopeBytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(scope.Length) + 1];
        var length = Encoding.UTF8.GetBytes(scope, scopeBytes);
        scopeBytes[length] = ScopeSeparator;
        hash.AppendData(scopeBytes[..(length + 1)]);
        hash.AppendData(body);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return Base64Url.EncodeToString(digest[..FingerprintBytes]);
    }

    static string Encode(ReadOnlySpan<byte> input)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, digest);
        return Base64Url.EncodeToString(digest[..FingerprintBytes]);
    }

    static BodyFormat FormatOf(string? contentType)
    {
        if (contentType is null)
            return BodyFormat.Bytes;
        var mediaType = contentType.AsSpan();
        var parameters = mediaType.IndexOf(';');
        if (parameters >= 0)
            mediaType = mediaType[..parameters];
        mediaType = mediaType.Trim();
        if (mediaType.Equals("application/vnd.masstransit+json", StringComparison.OrdinalIgnoreCase))
            return BodyFormat.Envelope;
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) ? BodyFormat.Json : BodyFormat.Bytes;
    }

    enum BodyFormat
    {
        Bytes,
        Json,
        Envelope,
    }

    /// <summary>One member of an object being canonicalised: where its <c>"name":value</c> text sits in the buffer.</summary>
    readonly record struct Member(int Start, int NameLength, int Length, int Order);

    /// <summary>Orders members by name (the canonical name between its quotes), then by position for duplicate names.</summary>
    readonly struct MemberOrder(byte[] buffer) : IComparer<Member>
    {
        public int Compare(Member x, Member y)
        {
            var order = buffer.AsSpan(x.Start + 1, x.NameLength - 2).SequenceCompareTo(buffer.AsSpan(y.Start + 1, y.NameLength - 2));
            return order != 0 ? order : x.Order.CompareTo(y.Order);
        }
    }

    /// <summary>
    /// Writes canonical JSON into a pooled buffer (after the scope): no per-call allocation besides the pool's.
    /// Objects are written member by member, then their members are reordered in place.
    /// </summary>
    ref struct CanonicalJson
    {
        byte[] _buffer;
        byte[] _scratch;
        Member[] _members;
        int _length;
        int _memberCount;

        public CanonicalJson(int capacity)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 256));
            _scratch = ArrayPool<byte>.Shared.Rent(256);
            _members = ArrayPool<Member>.Shared.Rent(32);
        }

        public readonly ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

        public void AppendScope(string scope)
        {
            Ensure(Encoding.UTF8.GetMaxByteCount(scope.Length) + 1);
            _length += Encoding.UTF8.GetBytes(scope, _buffer.AsSpan(_length));
            _buffer[_length++] = ScopeSeparator;
        }

        /// <summary>Appends the canonical payload; false when the body is not the JSON expected (then hash the raw bytes).</summary>
        public bool TryAppendPayload(ReadOnlySpan<byte> body, bool envelope)
        {
            if (body.StartsWith("\uFEFF"u8))
                body = body[3..];
            var reader = new Utf8JsonReader(body, ReaderOptions);
            try
            {
                if (!reader.Read())
                    return false;
                if (!envelope)
                {
                    AppendValue(ref reader);
                    return !reader.Read(); // anything after the value throws; trailing whitespace and comments do not
                }

                if (reader.TokenType != JsonTokenType.StartObject)
                    return false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isMessage = reader.ValueTextEquals("message"u8) || reader.ValueTextEquals("Message"u8);
                    reader.Read();
                    if (isMessage)
                    {
                        AppendValue(ref reader);
                        return true;
                    }

                    reader.Skip();
                }

                return false;
            }
            catch (Exception exception) when (exception is JsonException or InvalidOperationException)
            {
                // Malformed or too deep JSON, or an escaped lone surrogate: the raw bytes are still a fingerprint.
                return false;
            }
        }

        void AppendValue(ref Utf8JsonReader reader)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    AppendObject(ref reader);
                    break;
                case JsonTokenType.StartArray:
                    Append((byte)'[');
                    var first = true;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (!first)
                            Append((byte)',');
                        first = false;
                        AppendValue(ref reader);
                    }

                    Append((byte)']');
                    break;
                case JsonTokenType.String:
                    AppendString(ref reader);
                    break;
                case JsonTokenType.Number:
                    Append(reader.ValueSpan); // as sent: 10.50 stays 10.50 (a number is never escaped)
                    break;
                case JsonTokenType.True:
                    Append("true"u8);
                    break;
                case JsonTokenType.False:
                    Append("false"u8);
                    break;
                case JsonTokenType.Null:
                    Append("null"u8);
                    break;
                default:
                    throw new JsonException($"Unexpected JSON token {reader.TokenType}.");
            }
        }

        void AppendObject(ref Utf8JsonReader reader)
        {
            var start = _length;
            Append((byte)'{');
            var firstMember = _memberCount;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var memberStart = _length;
                AppendString(ref reader);
                var nameLength = _length - memberStart;
                Append((byte)':');
                reader.Read();
                AppendValue(ref reader);
                PushMember(new Member(memberStart, nameLength, _length - memberStart, _memberCount - firstMember));
            }

            var count = _memberCount - firstMember;
            if (count > 1)
            {
                // Members were written without separators; lay them out again sorted, with commas.
                var members = _members.AsSpan(firstMember, count);
                Sort(members, new MemberOrder(_buffer));
                var bodyLength = _length - (start + 1) + count - 1;
                EnsureScratch(bodyLength);
                var written = 0;
                foreach (var member in members)
                {
                    if (written > 0)
                        _scratch[written++] = (byte)',';
                    _buffer.AsSpan(member.Start, member.Length).CopyTo(_scratch.AsSpan(written));
                    written += member.Length;
                }

                _length = start + 1;
                Ensure(bodyLength);
                _scratch.AsSpan(0, bodyLength).CopyTo(_buffer.AsSpan(_length));
                _length += bodyLength;
            }

            _memberCount = firstMember;
            Append((byte)'}');
        }

        /// <summary>Insertion sort for the usual handful of members: Span.Sort allocates a delegate for its comparer.</summary>
        static void Sort(Span<Member> members, MemberOrder order)
        {
            if (members.Length > 32)
            {
                members.Sort(order);
                return;
            }

            for (var i = 1; i < members.Length; i++)
            {
                var member = members[i];
                var j = i - 1;
                for (; j >= 0 && order.Compare(members[j], member) > 0; j--)
                    members[j + 1] = members[j];
                members[j + 1] = member;
            }
        }

        /// <summary>A string by its value, escaped minimally (<c>"</c>, <c>\</c> and control characters only).</summary>
        void AppendString(ref Utf8JsonReader reader)
        {
            Append((byte)'"');
            if (!reader.ValueIsEscaped)
            {
                Append(reader.ValueSpan); // already minimal: unescaped JSON text has no quote, backslash or control
            }
            else
            {
                EnsureScratch(reader.ValueSpan.Length); // unescaping never lengthens
                var value = _scratch.AsSpan(0, reader.CopyString(_scratch));
                Ensure(value.Length * 6);
                foreach (var b in value)
                {
                    if (b == (byte)'"' || b == (byte)'\\')
                    {
                        _buffer[_length++] = (byte)'\\';
                        _buffer[_length++] = b;
                    }
                    else if (b < 0x20)
                    {
                        "\\u00"u8.CopyTo(_buffer.AsSpan(_length));
                        _buffer[_length + 4] = HexDigit(b >> 4);
                        _buffer[_length + 5] = HexDigit(b & 0xF);
                        _length += 6;
                    }
                    else
                    {
                        _buffer[_length++] = b;
                    }
                }
            }

            Append((byte)'"');
        }

        static byte HexDigit(int value) => (byte)(value < 10 ? '0' + value : 'a' + value - 10);

        void Append(byte value)
        {
            Ensure(1);
            _buffer[_length++] = value;
        }

        void Append(ReadOnlySpan<byte> value)
        {
            Ensure(value.Length);
            value.CopyTo(_buffer.AsSpan(_length));
            _length += value.Length;
        }

        void PushMember(Member member)
        {
            if (_memberCount == _members.Length)
            {
                var larger = ArrayPool<Member>.Shared.Rent(_members.Length * 2);
                _members.AsSpan(0, _memberCount).CopyTo(larger);
                ArrayPool<Member>.Shared.Return(_members);
                _members = larger;
            }

            _members[_memberCount++] = member;
        }

        void Ensure(int more)
        {
            if (_length + more <= _buffer.Length)
                return;
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + more));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        void EnsureScratch(int size)
        {
            if (size <= _scratch.Length)
                return;
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = ArrayPool<byte>.Shared.Rent(size);
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            ArrayPool<byte>.Shared.Return(_scratch);
            ArrayPool<Member>.Shared.Return(_members);
        }
    }
}
