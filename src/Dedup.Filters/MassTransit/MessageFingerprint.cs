using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MassTransit.Serialization;

namespace Dedup.MassTransit;

/// <summary>
/// The payload fingerprint stored with a claim: SHA-256 (first 12 bytes, base64url: 96 bits, 16 characters) over the message type, the scope and the
/// message serialised with MassTransit's JSON options. Over the message itself, not the envelope: a redelivery with
/// a new envelope is not a conflict.
/// </summary>
internal static class MessageFingerprint
{
    public static string Compute(object message, string messageName, string scope)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), SystemTextJsonMessageSerializer.Options);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(messageName));
        hash.AppendData(Encoding.UTF8.GetBytes(scope));
        hash.AppendData(body);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return System.Buffers.Text.Base64Url.EncodeToString(digest[..12]);
    }
}
