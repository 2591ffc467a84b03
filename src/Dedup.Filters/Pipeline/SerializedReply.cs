using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using MassTransit.Serialization;

namespace Dedup.Pipeline;

/// <summary>
/// A reply a transactional outbox delivers (<c>UseInMemoryInboxOutbox</c>, the Entity Framework Core and MongoDB
/// outboxes): the consumer's <c>RespondAsync</c> was serialised into the outbox when it was called, and the outbox
/// sends the stored bytes later as a <see cref="SerializedMessageBody"/>, which says nothing of the reply's type or
/// content. This reads the reply back from those bytes, as the message type its first resolvable message-type URN
/// names, so it is recorded and replayed like a reply the consumer sent itself (red team 7).
/// </summary>
internal static class SerializedReply
{
    static readonly ConcurrentDictionary<string, Type?> TypesByUrn = new(StringComparer.Ordinal);

    /// <summary>The reply <paramref name="context"/> carries, or null when its type or body cannot be read.</summary>
    public static (object Message, Type Type)? Read(SendContext<SerializedMessageBody> context)
    {
        var type = context.SupportedMessageTypes?.Select(TypeOf).FirstOrDefault(t => t is not null);
        if (type is null || context.Serializer is not { } serializer)
            return null;

        try
        {
            var body = serializer.GetMessageBody(context).GetBytes();
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;

            // A MassTransit envelope carries the message in its "message" property; raw JSON is the message itself.
            var message = IsEnvelope(serializer.ContentType?.MediaType) && root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var inner)
                ? inner
                : root;
            return message.Deserialize(type, SystemTextJsonMessageSerializer.Options) is { } reply ? (reply, type) : null;
        }
        catch (JsonException)
        {
            return null;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    static bool IsEnvelope(string? mediaType) =>
        string.Equals(mediaType, SystemTextJsonMessageSerializer.JsonContentType.MediaType, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The loaded type whose MassTransit URN is <paramref name="urn"/> (<c>urn:message:Namespace:Name</c>; a nested type's
    /// name is <c>Outer+Inner</c>), found by its name, else among the loaded types that name their URN with
    /// <c>[MessageUrn]</c>; cached either way (null too: a URN no loaded type has is not looked for again).
    /// </summary>
    static Type? TypeOf(string urn) => TypesByUrn.GetOrAdd(urn, static urn =>
    {
        var assemblies = AppDomain.CurrentDomain.GetAssemblies().Where(a => !a.IsDynamic).ToArray();
        var parts = urn.StartsWith(MessageUrn.Prefix, StringComparison.Ordinal) ? urn[MessageUrn.Prefix.Length..].Split(':') : [];
        if (parts.Length >= 2)
        {
            var fullName = $"{parts[0]}.{parts[1]}";
            foreach (var assembly in assemblies)
            {
                if (assembly.GetType(fullName, throwOnError: false) is { } named && MessageUrn.ForTypeString(named) == urn)
                    return named;
            }
        }

        // A type that names its own URN ([MessageUrn]) is found by that attribute. Generic replies are not looked for.
        foreach (var assembly in assemblies)
        {
            foreach (var candidate in LoadableTypes(assembly))
            {
                if (candidate is { IsClass: true } or { IsInterface: true } && !candidate.ContainsGenericParameters
                    && candidate.IsDefined(typeof(MessageUrnAttribute), inherit: false) && MessageUrn.ForTypeString(candidate) == urn)
                    return candidate;
            }
        }

        return null;
    });

    static IEnumerable<Type> LoadableTypes(System.Reflection.Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (System.Reflection.ReflectionTypeLoadException exception)
        {
            return exception.Types.OfType<Type>();
        }
    }
}
