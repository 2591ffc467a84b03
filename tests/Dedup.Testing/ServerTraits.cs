using System.Reflection;
using Xunit;

namespace Dedup.Testing;

/// <summary>
/// Tests that need a real Redis or RabbitMQ carry <c>[Trait("Needs", "Redis")]</c> / <c>[Trait("Needs", "RabbitMQ")]</c>, so
/// the others run anywhere (<c>dotnet test --filter "Needs!=Redis&amp;Needs!=RabbitMQ"</c>, README "Tests"). A test class
/// gets a server through its constructor (a fixture); this finds the classes that take one and lack the trait.
/// </summary>
public static class ServerTraits
{
    /// <summary>The trait's name; its values are <c>Redis</c> and <c>RabbitMQ</c>.</summary>
    public const string Name = "Needs";

    static readonly Dictionary<Type, string[]> Fixtures = new()
    {
        [typeof(RedisFixture)] = ["Redis"],
        [typeof(RedisClusterFixture)] = ["Redis"],
        [typeof(ReplicatedRedisFixture)] = ["Redis"],
        [typeof(RabbitMqFixture)] = ["RabbitMQ"],
    };

    /// <summary>
    /// Each test class of <paramref name="assembly"/> whose constructor takes a server fixture (those above, or
    /// <paramref name="more"/>: a fixture type and the servers it starts) without the matching traits, with what it misses.
    /// </summary>
    public static IReadOnlyList<string> Missing(Assembly assembly, IReadOnlyDictionary<Type, string[]>? more = null)
    {
        var missing = new List<string>();
        foreach (var type in assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false } && HasTests(t)))
        {
            var needs = type.GetConstructors()
                .SelectMany(c => c.GetParameters())
                .SelectMany(p => Needs(p.ParameterType, more))
                .ToHashSet(StringComparer.Ordinal);
            var traits = CustomAttributeData.GetCustomAttributes(type)
                .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == Name)
                .Select(a => (string)a.ConstructorArguments[1].Value!)
                .ToHashSet(StringComparer.Ordinal);
            var lacking = needs.Except(traits).Order(StringComparer.Ordinal).ToList();
            if (lacking.Count > 0)
                missing.Add($"{type.FullName}: [Trait(\"{Name}\", \"{string.Join("\")] [Trait(\"" + Name + "\", \"", lacking)}\")]");
        }

        return missing;
    }

    static string[] Needs(Type parameter, IReadOnlyDictionary<Type, string[]>? more) =>
        Fixtures.TryGetValue(parameter, out var servers) ? servers
        : more is not null && more.TryGetValue(parameter, out var others) ? others
        : [];

    static bool HasTests(Type type) =>
        type.GetMethods().Any(m => m.GetCustomAttributes<FactAttribute>(inherit: true).Any());
}
