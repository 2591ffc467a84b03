using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Dedup.Protocol;

/// <summary>
/// Builds store keys: <c>&lt;prefix&gt;{&lt;scope&gt;:&lt;id&gt;}</c>. Only parsed or hashed parts enter a key (a Guid, a
/// SHA-256), never raw header text; the braces are a Redis Cluster hash tag.
/// </summary>
internal static class DedupKey
{
    /// <summary>The longest custom key accepted before hashing (characters).</summary>
    public const int MaxCustomKeyLength = 4096;

    /// <summary>Hashes a scope name (endpoint + consumer type, or an executor scope) to 8 bytes of SHA-256 in base64url (11 characters).</summary>
    public static string Scope(string scopeName)
    {
        ArgumentNullException.ThrowIfNull(scopeName);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(scopeName), hash);
        return Base64Url.EncodeToString(hash[..8]);
    }

    /// <summary>
    /// The scope the dedup filter gives an owner on a receive endpoint: <see cref="Scope"/> over the path of the
    /// endpoint's input address and the owner's type name, so each consumer or saga of a fanned-out message keeps its
    /// own record (README, "Keys").
    /// </summary>
    /// <param name="inputAddress">The endpoint's input address, as MassTransit reports it (<c>ReceiveContext.InputAddress</c>): only its path counts.</param>
    /// <param name="ownerType">The consumer, saga or batch consumer type's full name (<see cref="Type.FullName"/>).</param>
    public static string EndpointScope(Uri inputAddress, string ownerType)
    {
        ArgumentNullException.ThrowIfNull(inputAddress);
        ArgumentException.ThrowIfNullOrEmpty(ownerType);
        return Scope(string.Concat(inputAddress.AbsolutePath, "|", ownerType));
    }

    /// <summary>
    /// <see cref="EndpointScope(Uri, string)"/> for an endpoint named by its address (<c>rabbitmq://host/vhost/queue</c>)
    /// or by its queue name, which stands for the queue on the broker's default virtual host (path <c>/queue</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The endpoint is empty, or looks like an address and does not parse.</exception>
    public static string EndpointScope(string endpoint, string ownerType)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        if (endpoint.Contains("://", StringComparison.Ordinal))
        {
            return Uri.TryCreate(endpoint, UriKind.Absolute, out var address)
                ? EndpointScope(address, ownerType)
                : throw new ArgumentException($"The endpoint address '{endpoint}' does not parse. Give the receive endpoint's address (rabbitmq://host/vhost/queue) or its queue name.", nameof(endpoint));
        }

        // MassTransit's short form "queue:name" names the same queue; any other name is a path segment of an address.
        var queue = endpoint.StartsWith("queue:", StringComparison.Ordinal) ? endpoint["queue:".Length..] : endpoint;
        return EndpointScope(new Uri("endpoint://host/" + queue.TrimStart('/')), ownerType);
    }

    /// <summary>The key of a message id within a scope: the Guid's 16 bytes in base64url (22 characters).</summary>
    public static string ForMessageId(string prefix, string scope, Guid messageId)
    {
        // Compact on purpose: every byte of the key is paid once per record for the whole retention window. Built in
        // place: one string per message, no intermediate.
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(scope);
        return string.Create(prefix.Length + scope.Length + 3 + 22, (prefix, scope, messageId), static (chars, state) =>
        {
            var (prefix, scope, id) = state;
            Span<byte> bytes = stackalloc byte[16];
            id.TryWriteBytes(bytes);
            prefix.CopyTo(chars);
            var at = prefix.Length;
            chars[at++] = '{';
            scope.CopyTo(chars[at..]);
            at += scope.Length;
            chars[at++] = ':';
            at += Base64Url.EncodeToChars(bytes, chars[at..]);
            chars[at] = '}';
        });
    }

    /// <summary>
    /// A new owner token, 12 bytes in base64url (16 characters): 8 random bytes drawn once per process and a 32-bit
    /// counter, so no two tokens of one process are equal (until the counter wraps, billions of claims later) and two
    /// processes share none but by a 64-bit chance. A token only needs to be unique (owner and epoch fence every write
    /// together); drawing 12 random bytes per claim cost a call into OpenSSL per message.
    /// </summary>
    public static string NewOwnerToken()
    {
        Span<byte> bytes = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ProcessNonce);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[8..], (uint)Interlocked.Increment(ref _ownerCounter));
        return Base64Url.EncodeToString(bytes);
    }

    static readonly ulong ProcessNonce = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));
    static int _ownerCounter = RandomNumberGenerator.GetInt32(int.MaxValue);

    /// <summary>The key of a custom (business) key within a scope: the custom key is hashed (SHA-256, base64url).</summary>
    /// <exception cref="DedupKeyException">The custom key is empty or longer than <see cref="MaxCustomKeyLength"/>.</exception>
    public static string ForCustomKey(string prefix, string scope, string customKey)
    {
        if (string.IsNullOrEmpty(customKey))
            throw new DedupKeyException("The custom dedup key is empty. Return a non-empty business key (a payment id, say) from the key selector.");
        if (customKey.Length > MaxCustomKeyLength)
            throw new DedupKeyException($"The custom dedup key is {customKey.Length} characters long; the limit is {MaxCustomKeyLength}. Use a shorter business key.");

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(customKey), hash);
        return string.Concat(prefix, "{", scope, ":", Base64Url.EncodeToString(hash), "}");
    }
}
